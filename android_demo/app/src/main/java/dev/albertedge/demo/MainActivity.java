package dev.albertedge.demo;

import android.app.Activity;
import android.app.ActivityManager;
import android.content.Context;
import android.content.Intent;
import android.content.res.AssetFileDescriptor;
import android.os.Build;
import android.os.Bundle;
import android.text.InputType;
import android.util.Log;
import android.view.View;
import android.widget.Button;
import android.widget.EditText;
import android.widget.LinearLayout;
import android.widget.ScrollView;
import android.widget.TextView;
import dev.albertedge.demo.tokenizer.AlbertTokenizer;
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Type a sentence, see the label, its probability and the inference time.
 *
 * <p>Benchmark mode (no UI interaction): {@code adb shell am start -n dev.albertedge.demo/.MainActivity
 * --ei runs 50 --ei warmup 5 --ei threads 4 --es text "a gripping film"} writes a result of the shared
 * benchmark schema to {@code files/bench/<--es out NAME, default result.json>} and logs its path under the
 * tag {@value #TAG}.
 */
public class MainActivity extends Activity {
    static final String TAG = "AlbertEdge";
    static final String MODEL_ASSET = "model.int8.tflite";
    static final String DEFAULT_TEXT = "a gripping, beautifully acted film";

    private EditText input;
    private TextView output;
    private Button button;
    private volatile Classifier classifier;
    private volatile ModelSpec spec;
    private volatile InferenceBackend backend;
    private volatile String loadError;
    private double loadSeconds;
    private int threads = 4;

    @Override
    protected void onCreate(Bundle state) {
        super.onCreate(state);
        LinearLayout col = new LinearLayout(this);
        col.setOrientation(LinearLayout.VERTICAL);
        int pad = (int) (16 * getResources().getDisplayMetrics().density);
        col.setPadding(pad, pad, pad, pad);
        TextView title = new TextView(this);
        title.setText("ALBERT sentiment (on-device, LiteRT int8)");
        title.setTextSize(20);
        input = new EditText(this);
        input.setHint("Type or paste a sentence");
        input.setInputType(InputType.TYPE_CLASS_TEXT | InputType.TYPE_TEXT_FLAG_MULTI_LINE);
        input.setMinLines(3);
        button = new Button(this);
        button.setText("Classify");
        button.setEnabled(false);
        output = new TextView(this);
        output.setTextSize(16);
        output.setText("Loading model...");
        col.addView(title);
        col.addView(input);
        col.addView(button);
        col.addView(output);
        ScrollView scroll = new ScrollView(this);
        scroll.addView(col);
        setContentView(scroll);

        final Intent intent = getIntent();
        threads = intent.getIntExtra("threads", Math.min(4, Runtime.getRuntime().availableProcessors()));
        button.setOnClickListener(new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                classifyAsync(input.getText().toString());
            }
        });
        new Thread(new Runnable() {
            @Override
            public void run() {
                load();
                if (intent.hasExtra("runs")) {
                    benchmark(intent);
                }
            }
        }, "albert-load").start();
    }

    private void load() {
        long t0 = System.nanoTime();
        try {
            spec = ManifestReader.read(readAssetText("manifest.json"), MODEL_ASSET);
            AlbertTokenizer tokenizer;
            InputStream in = getAssets().open("spiece.model");
            try {
                tokenizer = AlbertTokenizer.load(in);
            } finally {
                in.close();
            }
            try {
                backend = new LiteRtBackend(mapAsset(MODEL_ASSET), spec, threads);
            } catch (LinkageError e) {
                // The offline build (build_apk.sh) compiles against a stub and ships no LiteRT runtime.
                throw new IllegalStateException("this APK has no LiteRT runtime (offline build); build it with Gradle to run the model");
            }
            loadSeconds = (System.nanoTime() - t0) / 1e9;
            classifier = new Classifier(tokenizer, backend, spec);
            show(String.format(Locale.US, "Model loaded in %.0f ms: %s, buckets %s, %s", loadSeconds * 1000, MODEL_ASSET,
                    java.util.Arrays.toString(spec.buckets), backend.describe()), true);
        } catch (Exception e) {
            loadError = e.getMessage();
            Log.e(TAG, "load failed", e);
            show("Cannot load the model: " + e.getMessage(), false);
        }
    }

    private void classifyAsync(final String text) {
        button.setEnabled(false);
        new Thread(new Runnable() {
            @Override
            public void run() {
                try {
                    Classifier.Prediction p = classifier.classify(text);
                    show(String.format(Locale.US, "%s  (p = %.3f)%n%d tokens -> bucket %d, %.1f ms (tokenize + inference)",
                            p.label, p.probabilities[p.labelIndex], p.tokens, p.bucket, p.millis), true);
                } catch (Exception e) {
                    Log.e(TAG, "classify failed", e);
                    show("Error: " + e.getMessage(), true);
                }
            }
        }, "albert-classify").start();
    }

    private void benchmark(Intent intent) {
        String name = intent.getStringExtra("out");
        if (name == null || name.isEmpty() || name.contains("/")) {
            name = "result.json";
        }
        File out = new File(new File(getFilesDir(), "bench"), name);
        try {
            if (classifier == null) {
                throw new IllegalStateException(loadError);
            }
            String text = intent.getStringExtra("text");
            if (text == null || text.isEmpty()) {
                text = DEFAULT_TEXT;
            }
            int runs = intent.getIntExtra("runs", 50);
            int warmup = intent.getIntExtra("warmup", 5);
            show("Benchmark: " + runs + " runs per bucket...", false);
            Map<String, Object> versions = new LinkedHashMap<String, Object>();
            versions.put("albert-edge-demo", Versions.APP);
            versions.put("litert", Versions.LITERT);
            Map<String, Object> result = new Benchmark(classifier, spec).run(text, runs, warmup, threads, loadSeconds,
                    hostInfo(), versions, backend.describe(), null);
            writeAtomically(out, Json.write(result));
            Log.i(TAG, "ALBERT_EDGE_BENCH_RESULT " + out.getAbsolutePath());
            show("Benchmark written to " + out.getAbsolutePath(), true);
        } catch (Exception e) {
            Log.e(TAG, "ALBERT_EDGE_BENCH_ERROR " + e.getMessage(), e);
            show("Benchmark failed: " + e.getMessage(), classifier != null);
        }
    }

    private Map<String, Object> hostInfo() {
        Map<String, Object> h = new LinkedHashMap<String, Object>();
        h.put("platform", "android");
        h.put("hostname", Build.DEVICE);
        String soc = buildField("SOC_MANUFACTURER") + " " + buildField("SOC_MODEL"); // API 31+
        h.put("cpu_model", soc.trim().isEmpty() ? Build.HARDWARE : soc.trim());
        h.put("cpu_flags", cpuFeatures());
        h.put("cores_logical", Runtime.getRuntime().availableProcessors());
        ActivityManager am = (ActivityManager) getSystemService(Context.ACTIVITY_SERVICE);
        ActivityManager.MemoryInfo mi = new ActivityManager.MemoryInfo();
        am.getMemoryInfo(mi);
        h.put("ram_bytes", mi.totalMem);
        h.put("os", "Android " + Build.VERSION.RELEASE + " (API " + Build.VERSION.SDK_INT + ")");
        h.put("device_model", Build.MANUFACTURER + " " + Build.MODEL);
        h.put("abi", Build.SUPPORTED_ABIS.length > 0 ? Build.SUPPORTED_ABIS[0] : "");
        return h;
    }

    private static String buildField(String name) {
        try {
            Object v = Build.class.getField(name).get(null);
            return v == null || "unknown".equals(v) ? "" : v.toString();
        } catch (Exception e) {
            return "";
        }
    }

    /** The arm64 "Features" line of /proc/cpuinfo (asimddp, i8mm, ... decide int8 kernel speed). */
    private static List<Object> cpuFeatures() {
        List<Object> flags = new ArrayList<Object>();
        try {
            BufferedReader r = new BufferedReader(new InputStreamReader(new FileInputStream("/proc/cpuinfo"), "UTF-8"));
            try {
                String line;
                while ((line = r.readLine()) != null) {
                    if (line.startsWith("Features") && line.indexOf(':') > 0) {
                        for (String f : line.substring(line.indexOf(':') + 1).trim().split("\\s+")) {
                            flags.add(f);
                        }
                        break;
                    }
                }
            } finally {
                r.close();
            }
        } catch (IOException e) {
            Log.w(TAG, "cannot read /proc/cpuinfo", e);
        }
        return flags;
    }

    private void show(final String text, final boolean enable) {
        runOnUiThread(new Runnable() {
            @Override
            public void run() {
                output.setText(text);
                button.setEnabled(enable && classifier != null);
            }
        });
    }

    private String readAssetText(String name) throws IOException {
        InputStream in = getAssets().open(name);
        try {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            byte[] buf = new byte[8192];
            int n;
            while ((n = in.read(buf)) > 0) {
                b.write(buf, 0, n);
            }
            return b.toString("UTF-8");
        } finally {
            in.close();
        }
    }

    /** Memory-maps an asset stored uncompressed (aapt -0 tflite / Gradle noCompress) instead of copying it. */
    private ByteBuffer mapAsset(String name) throws IOException {
        AssetFileDescriptor fd = getAssets().openFd(name);
        FileInputStream in = new FileInputStream(fd.getFileDescriptor());
        try {
            FileChannel ch = in.getChannel();
            MappedByteBuffer buf = ch.map(FileChannel.MapMode.READ_ONLY, fd.getStartOffset(), fd.getDeclaredLength());
            return buf;
        } finally {
            in.close();
            fd.close();
        }
    }

    private static void writeAtomically(File out, String text) throws IOException {
        File dir = out.getParentFile();
        if (!dir.isDirectory() && !dir.mkdirs()) {
            throw new IOException("cannot create " + dir);
        }
        File tmp = new File(dir, out.getName() + ".tmp");
        FileOutputStream f = new FileOutputStream(tmp);
        try {
            f.write(text.getBytes("UTF-8"));
            f.getFD().sync();
        } finally {
            f.close();
        }
        if (!tmp.renameTo(out)) {
            throw new IOException("cannot rename " + tmp + " to " + out);
        }
    }

    @Override
    protected void onDestroy() {
        super.onDestroy();
        if (backend != null) {
            try {
                backend.close();
            } catch (IOException e) {
                Log.w(TAG, "close failed", e);
            }
        }
    }
}
