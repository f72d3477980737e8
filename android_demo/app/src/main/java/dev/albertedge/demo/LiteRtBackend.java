package dev.albertedge.demo;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import org.tensorflow.lite.Interpreter;

/**
 * LiteRT backend: one Interpreter over the .tflite file, one signature per sequence bucket
 * (seq_32, seq_64, ... from the export), run with runSignature. XNNPACK is LiteRT's default CPU
 * delegate; it is requested explicitly so a build that disabled it by default still uses it.
 */
public final class LiteRtBackend implements InferenceBackend {
    private final Interpreter interpreter;
    private final ModelSpec spec;
    private final int threads;

    /** @param model the .tflite bytes, ideally a MappedByteBuffer over an uncompressed asset */
    public LiteRtBackend(ByteBuffer model, ModelSpec spec, int threads) {
        Interpreter.Options options = new Interpreter.Options();
        options.setNumThreads(threads);
        options.setUseXNNPACK(true);
        this.interpreter = new Interpreter(model, options);
        this.spec = spec;
        this.threads = threads;
        String[] keys = interpreter.getSignatureKeys();
        for (String needed : spec.signatureKeys) {
            if (!Arrays.asList(keys).contains(needed)) {
                interpreter.close();
                throw new IllegalArgumentException("model has no signature '" + needed + "' (has " + Arrays.toString(keys) + ")");
            }
        }
    }

    @Override
    public float[] logits(int[] inputIds, int[] attentionMask, int bucket) {
        Map<String, Object> inputs = new HashMap<String, Object>();
        inputs.put("input_ids", new int[][] {inputIds});
        inputs.put("attention_mask", new int[][] {attentionMask});
        inputs.put("token_type_ids", new int[][] {new int[bucket]});
        float[][] logits = new float[1][spec.labels.length];
        Map<String, Object> outputs = new HashMap<String, Object>();
        outputs.put("logits", logits);
        interpreter.runSignature(inputs, outputs, spec.signatureFor(bucket));
        return logits[0];
    }

    @Override
    public String describe() {
        return "LiteRT Interpreter, XNNPACK, " + threads + " threads";
    }

    @Override
    public void close() {
        interpreter.close();
    }
}
