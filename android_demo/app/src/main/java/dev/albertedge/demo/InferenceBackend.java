package dev.albertedge.demo;

import java.io.Closeable;

/**
 * One forward pass of the classifier on one padded sequence. The app talks only to this interface,
 * so the LiteRT implementation can be swapped (another runtime, or a fake in JVM tests).
 */
public interface InferenceBackend extends Closeable {
    /** Logits [num_labels] for one sequence; both arrays have exactly {@code bucket} entries. */
    float[] logits(int[] inputIds, int[] attentionMask, int bucket) throws Exception;

    /** Runtime facts for the UI and the benchmark JSON (runtime, threads, delegate). */
    String describe();
}
