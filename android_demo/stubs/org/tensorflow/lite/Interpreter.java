package org.tensorflow.lite;

import java.nio.ByteBuffer;
import java.util.Map;

/**
 * COMPILE-ONLY STUB of the LiteRT (TensorFlow Lite) Java API, exactly the members LiteRtBackend
 * uses, with the signatures of com.google.ai.edge.litert:litert's org.tensorflow.lite.Interpreter.
 * build_apk.sh compiles the app against it because the LiteRT AAR cannot be downloaded here; it is
 * never dexed into the APK. The Gradle build uses the real library instead.
 */
public final class Interpreter implements AutoCloseable {
    public static class Options {
        public Options() {
            throw new UnsupportedOperationException("stub");
        }

        public Options setNumThreads(int numThreads) {
            throw new UnsupportedOperationException("stub");
        }

        public Options setUseXNNPACK(boolean useXNNPACK) {
            throw new UnsupportedOperationException("stub");
        }
    }

    public Interpreter(ByteBuffer byteBuffer, Options options) {
        throw new UnsupportedOperationException("stub");
    }

    public String[] getSignatureKeys() {
        throw new UnsupportedOperationException("stub");
    }

    public void runSignature(Map<String, Object> inputs, Map<String, Object> outputs, String signatureKey) {
        throw new UnsupportedOperationException("stub");
    }

    @Override
    public void close() {
        throw new UnsupportedOperationException("stub");
    }
}
