package dev.albertedge.demo;

import dev.albertedge.demo.tokenizer.AlbertTokenizer;

/**
 * Text -> label, the way the Python TFLite runner does it: encode with [CLS]/[SEP] up to the
 * largest bucket, pick the smallest signature bucket that holds the ids (cutting to the largest one
 * keeps the final [SEP]), pad with the pad id, run, softmax.
 */
public final class Classifier {
    public static final class Prediction {
        public final int labelIndex;
        public final String label;
        public final float[] logits;
        public final float[] probabilities;
        public final int tokens;
        public final int bucket;
        public final double millis;

        Prediction(int labelIndex, String label, float[] logits, float[] probabilities, int tokens, int bucket, double millis) {
            this.labelIndex = labelIndex;
            this.label = label;
            this.logits = logits;
            this.probabilities = probabilities;
            this.tokens = tokens;
            this.bucket = bucket;
            this.millis = millis;
        }
    }

    private final AlbertTokenizer tokenizer;
    private final InferenceBackend backend;
    private final ModelSpec spec;

    public Classifier(AlbertTokenizer tokenizer, InferenceBackend backend, ModelSpec spec) {
        this.tokenizer = tokenizer;
        this.backend = backend;
        this.spec = spec;
    }

    /** Token ids with [CLS]/[SEP], at most the largest bucket long. */
    public int[] encode(String text) {
        int limit = spec.buckets[spec.buckets.length - 1];
        if (spec.maxSeqLength > 0) {
            limit = Math.min(limit, spec.maxSeqLength);
        }
        return tokenizer.encode(text, limit);
    }

    public Prediction classify(String text) throws Exception {
        long t0 = System.nanoTime();
        int[] ids = encode(text);
        Prediction p = classifyIds(ids);
        double ms = (System.nanoTime() - t0) / 1e6;
        return new Prediction(p.labelIndex, p.label, p.logits, p.probabilities, p.tokens, p.bucket, ms);
    }

    /** Runs already-encoded ids (timing covers the forward pass only). */
    public Prediction classifyIds(int[] ids) throws Exception {
        int bucket = pickBucket(ids.length, spec.buckets);
        int[] fitted = fitToBucket(ids, bucket, spec.sepId);
        int[] input = new int[bucket];
        int[] mask = new int[bucket];
        for (int i = 0; i < bucket; i++) {
            input[i] = i < fitted.length ? fitted[i] : spec.padId;
            mask[i] = i < fitted.length ? 1 : 0;
        }
        long t0 = System.nanoTime();
        float[] logits = backend.logits(input, mask, bucket);
        double ms = (System.nanoTime() - t0) / 1e6;
        if (logits.length != spec.labels.length) {
            throw new IllegalStateException("model returned " + logits.length + " logits for " + spec.labels.length + " labels");
        }
        float[] probs = softmax(logits);
        int best = argmax(probs);
        return new Prediction(best, spec.labels[best], logits, probs, fitted.length, bucket, ms);
    }

    /** Smallest bucket >= n, else the largest (the ids are then cut to it). */
    public static int pickBucket(int n, int[] ascendingBuckets) {
        for (int b : ascendingBuckets) {
            if (b >= n) {
                return b;
            }
        }
        return ascendingBuckets[ascendingBuckets.length - 1];
    }

    /** Cuts ids to {@code length}, keeping the final [SEP] as the model saw in training. */
    public static int[] fitToBucket(int[] ids, int length, int sepId) {
        if (ids.length <= length) {
            return ids;
        }
        int[] out = new int[length];
        System.arraycopy(ids, 0, out, 0, length - 1);
        out[length - 1] = sepId;
        return out;
    }

    /** Numerically stable softmax (max subtracted), in double, returned as float. */
    public static float[] softmax(float[] logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (float x : logits) {
            max = Math.max(max, x);
        }
        double[] e = new double[logits.length];
        double sum = 0;
        for (int i = 0; i < logits.length; i++) {
            e[i] = Math.exp(logits[i] - max);
            sum += e[i];
        }
        float[] out = new float[logits.length];
        for (int i = 0; i < logits.length; i++) {
            out[i] = (float) (e[i] / sum);
        }
        return out;
    }

    /** Index of the largest value (the first one on ties, like numpy.argmax). */
    public static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }
}
