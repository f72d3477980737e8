package dev.albertedge.demo;

import java.text.SimpleDateFormat;
import java.util.ArrayList;
import java.util.Date;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TimeZone;

/**
 * The app's benchmark mode: per-bucket latency on synthetic inputs of exactly bucket tokens, plus
 * end-to-end latency (tokenize + pad + run) of one real sentence; written as a result of the shared
 * benchmark schema (benchmarks/schema.py, i.e. albert_edge.benchmarks.schema, kind "albert-edge-bench", tool "android-app").
 */
public final class Benchmark {
    public static final String TOOL = "android-app";

    public interface Progress {
        void update(String what);
    }

    private final Classifier classifier;
    private final ModelSpec spec;

    public Benchmark(Classifier classifier, ModelSpec spec) {
        this.classifier = classifier;
        this.spec = spec;
    }

    /** [CLS] + ids of the text repeated to fill + [SEP]: a real-looking input of exactly {@code length} ids. */
    static int[] syntheticIds(int[] textIds, int length) {
        int[] out = new int[length];
        out[0] = textIds[0];
        out[length - 1] = textIds[textIds.length - 1];
        int inner = Math.max(1, textIds.length - 2);
        for (int i = 1; i < length - 1; i++) {
            out[i] = textIds.length > 2 ? textIds[1 + (i - 1) % inner] : textIds[0];
        }
        return out;
    }

    public Map<String, Object> run(String text, int runs, int warmup, int threads, double loadSeconds,
            Map<String, Object> host, Map<String, Object> versions, String backendInfo, Progress progress) throws Exception {
        if (runs < 1 || warmup < 0) {
            throw new IllegalArgumentException("runs must be >= 1 and warmup >= 0");
        }
        int[] textIds = classifier.encode(text);
        List<Object> latency = new ArrayList<Object>();
        for (int bucket : spec.buckets) {
            int[] ids = syntheticIds(textIds, bucket);
            double[] ms = new double[runs];
            for (int i = 0; i < warmup + runs; i++) {
                Classifier.Prediction p = classifier.classifyIds(ids);
                if (i >= warmup) {
                    ms[i - warmup] = p.millis;
                }
            }
            if (progress != null) {
                progress.update("seq_len " + bucket + ": done");
            }
            Map<String, Object> lat = new LinkedHashMap<String, Object>();
            lat.put("seq_len", bucket);
            lat.put("batch", 1);
            lat.put("threads", threads);
            lat.put("runs", runs);
            lat.put("warmup", warmup);
            lat.put("ms", BenchStats.summarize(ms));
            latency.add(lat);
        }
        double[] ms = new double[runs];
        Classifier.Prediction last = null;
        for (int i = 0; i < warmup + runs; i++) {
            last = classifier.classify(text);
            if (i >= warmup) {
                ms[i - warmup] = last.millis;
            }
        }
        Map<String, Object> sent = new LinkedHashMap<String, Object>();
        sent.put("threads", threads);
        sent.put("batch", 1);
        sent.put("count", 1);
        sent.put("runs", runs);
        sent.put("shape_handling", "buckets");
        sent.put("mean_tokens", (double) last.tokens);
        sent.put("mean_padded_tokens", (double) last.bucket);
        sent.put("ms", BenchStats.summarize(ms));
        List<Object> sentences = new ArrayList<Object>();
        sentences.add(sent);

        Map<String, Object> art = new LinkedHashMap<String, Object>();
        art.put("name", "tflite-" + spec.precision);
        art.put("format", "tflite");
        art.put("precision", spec.precision);
        art.put("role", "ours");
        art.put("file", spec.artifactFile);
        art.put("bytes", spec.artifactBytes);
        art.put("load_s", loadSeconds);
        art.put("latency", latency);
        art.put("sentences", sentences);
        art.put("skipped", new ArrayList<Object>());
        art.put("error", null);
        Map<String, Object> info = new LinkedHashMap<String, Object>();
        info.put("backend", backendInfo);
        info.put("sha256", spec.artifactSha256);
        info.put("prediction", last.label);
        info.put("probability", (double) last.probabilities[last.labelIndex]);
        art.put("info", info);
        List<Object> arts = new ArrayList<Object>();
        arts.add(art);

        Map<String, Object> model = new LinkedHashMap<String, Object>();
        model.put("name", "albert-" + spec.model.get("hidden_size") + "h-" + spec.model.get("num_hidden_layers") + "l");
        for (Map.Entry<String, Long> e : spec.model.entrySet()) {
            model.put(e.getKey(), e.getValue());
        }
        model.put("num_labels", spec.labels.length);
        model.put("max_seq_length", spec.maxSeqLength);

        List<Object> seqLens = new ArrayList<Object>();
        for (int b : spec.buckets) {
            seqLens.add(b);
        }
        List<Object> threadList = new ArrayList<Object>();
        threadList.add(threads);
        List<Object> batches = new ArrayList<Object>();
        batches.add(1);
        Map<String, Object> settings = new LinkedHashMap<String, Object>();
        settings.put("seq_lens", seqLens);
        settings.put("threads", threadList);
        settings.put("batches", batches);
        settings.put("runs", runs);
        settings.put("warmup", warmup);
        Map<String, Object> sentenceSource = new LinkedHashMap<String, Object>();
        sentenceSource.put("source", "intent extra 'text'");
        sentenceSource.put("count", 1);
        settings.put("sentences", sentenceSource);

        Map<String, Object> r = new LinkedHashMap<String, Object>();
        r.put("schema_version", 1);
        r.put("kind", "albert-edge-bench");
        r.put("created", isoNow());
        r.put("tool", TOOL);
        r.put("host", host);
        r.put("versions", versions);
        r.put("model", model);
        r.put("settings", settings);
        r.put("peak", new ArrayList<Object>());
        r.put("artifacts", arts);
        r.put("comparisons", new ArrayList<Object>());
        r.put("goals", new ArrayList<Object>());
        r.put("peers", new ArrayList<Object>());
        List<Object> notes = new ArrayList<Object>();
        notes.add("latency: forward pass only (padded bucket input); sentences: tokenize + pad + forward, end to end");
        r.put("notes", notes);
        return r;
    }

    static String isoNow() {
        SimpleDateFormat f = new SimpleDateFormat("yyyy-MM-dd'T'HH:mm:ss'+00:00'", Locale.US);
        f.setTimeZone(TimeZone.getTimeZone("UTC"));
        return f.format(new Date());
    }
}
