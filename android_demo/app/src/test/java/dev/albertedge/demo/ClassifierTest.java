package dev.albertedge.demo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.albertedge.demo.tokenizer.AlbertTokenizer;
import dev.albertedge.demo.tokenizer.SpmModel;
import java.io.IOException;
import java.io.InputStream;
import java.util.HashMap;
import org.junit.jupiter.api.Test;

class ClassifierTest {
    static final int[] BUCKETS = {32, 64, 128};

    static AlbertTokenizer tokenizer() throws IOException {
        try (InputStream in = ClassifierTest.class.getResourceAsStream("/spm/sst2_unigram_8k/spiece.model")) {
            return new AlbertTokenizer(SpmModel.read(in), false);
        }
    }

    static ModelSpec spec(String... labels) {
        HashMap<String, Long> model = new HashMap<String, Long>();
        String[] keys = {"hidden_size", "embedding_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size"};
        long[] values = {768, 128, 12, 12, 3072, 30000};
        for (int i = 0; i < keys.length; i++) model.put(keys[i], values[i]);
        return new ModelSpec(labels, 128, BUCKETS, new String[] {"seq_32", "seq_64", "seq_128"}, "model.int8.tflite",
                "int8", 1234, "ab", model, 2, 3, 0);
    }

    @Test
    void bucketIsSmallestThatFits() {
        assertEquals(32, Classifier.pickBucket(2, BUCKETS));
        assertEquals(32, Classifier.pickBucket(32, BUCKETS));
        assertEquals(64, Classifier.pickBucket(33, BUCKETS));
        assertEquals(128, Classifier.pickBucket(65, BUCKETS));
        assertEquals(128, Classifier.pickBucket(128, BUCKETS));
        assertEquals(128, Classifier.pickBucket(500, BUCKETS)); // too long: largest, then cut
    }

    @Test
    void truncationKeepsFinalSep() {
        int[] ids = {2, 10, 11, 12, 13, 3};
        assertArrayEquals(new int[] {2, 10, 11, 3}, Classifier.fitToBucket(ids, 4, 3));
        assertArrayEquals(ids, Classifier.fitToBucket(ids, 6, 3));
        assertArrayEquals(ids, Classifier.fitToBucket(ids, 32, 3));
    }

    @Test
    void softmaxIsStableAndNormalized() {
        float[] p = Classifier.softmax(new float[] {1000f, 1001f});
        assertEquals(1.0, p[0] + p[1], 1e-6);
        assertEquals(1 / (1 + Math.exp(1)), p[0], 1e-6);
        float[] q = Classifier.softmax(new float[] {-3.5f, 0.25f, 2f});
        double z = Math.exp(-3.5) + Math.exp(0.25) + Math.exp(2);
        assertEquals(Math.exp(0.25) / z, q[1], 1e-6);
        assertEquals(2, Classifier.argmax(q));
        assertEquals(0, Classifier.argmax(new float[] {1f, 1f})); // first on ties, like numpy
    }

    @Test
    void classifyPadsToBucketWithMaskAndPicksLabel() throws Exception {
        FakeBackend be = new FakeBackend(2);
        Classifier c = new Classifier(tokenizer(), be, spec("negative", "positive"));
        Classifier.Prediction p = c.classify("a gripping film");
        int[] ids = tokenizer().encode("a gripping film", 128);
        assertEquals(32, p.bucket);
        assertEquals(ids.length, p.tokens);
        int[] fed = be.ids.get(0);
        int[] mask = be.masks.get(0);
        assertEquals(32, fed.length);
        for (int i = 0; i < 32; i++) {
            assertEquals(i < ids.length ? ids[i] : 0, fed[i], "input_ids[" + i + "]");
            assertEquals(i < ids.length ? 1 : 0, mask[i], "attention_mask[" + i + "]");
        }
        assertEquals(ids.length % 2 == 0 ? "negative" : "positive", p.label);
        assertEquals(p.probabilities[p.labelIndex], 1 / (1 + Math.exp(-2)), 1e-6);
    }

    @Test
    void longTextGoesToLargestBucketCutWithSep() throws Exception {
        FakeBackend be = new FakeBackend(3);
        Classifier c = new Classifier(tokenizer(), be, spec("a", "b", "c"));
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < 300; i++) text.append("wonderful ");
        Classifier.Prediction p = c.classify(text.toString());
        assertEquals(128, p.bucket);
        assertEquals(128, p.tokens);
        int[] fed = be.ids.get(0);
        assertEquals(2, fed[0]);
        assertEquals(3, fed[127]);
        assertEquals(128 % 3, p.labelIndex);
    }

    @Test
    void specRejectsUnorderedBuckets() {
        assertThrows(IllegalArgumentException.class, () -> new ModelSpec(new String[] {"x"}, 64, new int[] {64, 32},
                new String[] {"seq_64", "seq_32"}, "m", "int8", 1, "", new HashMap<String, Long>(), 2, 3, 0));
    }
}
