package dev.albertedge.demo;

import java.util.ArrayList;
import java.util.List;

/** Records what the classifier feeds it; logits are a fixed function of the input so tests can predict them. */
final class FakeBackend implements InferenceBackend {
    final List<int[]> ids = new ArrayList<>();
    final List<int[]> masks = new ArrayList<>();
    final List<Integer> buckets = new ArrayList<>();
    final int numLabels;

    FakeBackend(int numLabels) {
        this.numLabels = numLabels;
    }

    @Override
    public float[] logits(int[] inputIds, int[] attentionMask, int bucket) {
        ids.add(inputIds.clone());
        masks.add(attentionMask.clone());
        buckets.add(bucket);
        int real = 0;
        for (int m : attentionMask) real += m;
        float[] out = new float[numLabels];
        out[real % numLabels] = 2.0f; // label = token count mod num_labels
        return out;
    }

    @Override
    public String describe() {
        return "fake backend";
    }

    @Override
    public void close() {}
}
