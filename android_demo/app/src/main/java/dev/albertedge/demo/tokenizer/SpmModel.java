package dev.albertedge.demo.tokenizer;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.Charset;

/**
 * The few fields of a SentencePiece {@code ModelProto} (spiece.model) the tokenizer needs.
 *
 * <p>Parsed by hand: the app carries no protobuf runtime, and these are four fields of a stable
 * schema (sentencepiece_model.proto): ModelProto.pieces = 1 {piece = 1, score = 2, type = 3} and
 * ModelProto.normalizer_spec = 3 {name = 1, precompiled_charsmap = 2}.
 */
public final class SpmModel {
    public static final int TYPE_NORMAL = 1;
    public static final int TYPE_UNKNOWN = 2;
    public static final int TYPE_CONTROL = 3;
    public static final int TYPE_USER_DEFINED = 4;
    public static final int TYPE_UNUSED = 5;
    public static final int TYPE_BYTE = 6;

    static final Charset UTF8 = Charset.forName("UTF-8");

    public final String[] pieces;
    public final float[] scores;
    public final int[] types;
    public final String normalizerName;
    /** Empty when the model has no precompiled normalization (identity). */
    public final byte[] precompiledCharsmap;

    private SpmModel(String[] pieces, float[] scores, int[] types, String normalizerName, byte[] charsmap) {
        this.pieces = pieces;
        this.scores = scores;
        this.types = types;
        this.normalizerName = normalizerName;
        this.precompiledCharsmap = charsmap;
    }

    public int size() {
        return pieces.length;
    }

    public static SpmModel read(InputStream in) throws IOException {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        byte[] chunk = new byte[1 << 16];
        int n;
        while ((n = in.read(chunk)) > 0) {
            buf.write(chunk, 0, n);
        }
        return parse(buf.toByteArray());
    }

    public static SpmModel parse(byte[] data) {
        java.util.ArrayList<String> pieces = new java.util.ArrayList<String>();
        java.util.ArrayList<Float> scores = new java.util.ArrayList<Float>();
        java.util.ArrayList<Integer> types = new java.util.ArrayList<Integer>();
        String normName = "";
        byte[] charsmap = new byte[0];
        Reader r = new Reader(data, 0, data.length);
        while (r.more()) {
            long key = r.varint();
            int field = (int) (key >>> 3);
            int wire = (int) (key & 7);
            if (field == 1 && wire == 2) {
                Reader p = r.sub();
                String piece = "";
                float score = 0f;
                int type = TYPE_NORMAL;
                while (p.more()) {
                    long k = p.varint();
                    int f = (int) (k >>> 3);
                    int w = (int) (k & 7);
                    if (f == 1 && w == 2) {
                        piece = new String(p.bytes(), UTF8);
                    } else if (f == 2 && w == 5) {
                        score = Float.intBitsToFloat(p.fixed32());
                    } else if (f == 3 && w == 0) {
                        type = (int) p.varint();
                    } else {
                        p.skip(w);
                    }
                }
                pieces.add(piece);
                scores.add(score);
                types.add(type);
            } else if (field == 3 && wire == 2) {
                Reader p = r.sub();
                while (p.more()) {
                    long k = p.varint();
                    int f = (int) (k >>> 3);
                    int w = (int) (k & 7);
                    if (f == 1 && w == 2) {
                        normName = new String(p.bytes(), UTF8);
                    } else if (f == 2 && w == 2) {
                        charsmap = p.bytes();
                    } else {
                        p.skip(w);
                    }
                }
            } else {
                r.skip(wire);
            }
        }
        if (pieces.isEmpty()) {
            throw new IllegalArgumentException("not a SentencePiece model: no pieces");
        }
        String[] pa = pieces.toArray(new String[0]);
        float[] sa = new float[pa.length];
        int[] ta = new int[pa.length];
        for (int i = 0; i < pa.length; i++) {
            sa[i] = scores.get(i);
            ta[i] = types.get(i);
        }
        return new SpmModel(pa, sa, ta, normName, charsmap);
    }

    /** Minimal protobuf wire-format reader over a byte range. */
    private static final class Reader {
        private final byte[] d;
        private int pos;
        private final int end;

        Reader(byte[] d, int pos, int end) {
            this.d = d;
            this.pos = pos;
            this.end = end;
        }

        boolean more() {
            return pos < end;
        }

        long varint() {
            long v = 0;
            int shift = 0;
            while (true) {
                if (pos >= end) {
                    throw new IllegalArgumentException("truncated SentencePiece model (varint)");
                }
                int b = d[pos++] & 0xff;
                v |= (long) (b & 0x7f) << shift;
                if ((b & 0x80) == 0) {
                    return v;
                }
                shift += 7;
                if (shift > 63) {
                    throw new IllegalArgumentException("bad varint in SentencePiece model");
                }
            }
        }

        int fixed32() {
            if (pos + 4 > end) {
                throw new IllegalArgumentException("truncated SentencePiece model (fixed32)");
            }
            int v = (d[pos] & 0xff) | (d[pos + 1] & 0xff) << 8 | (d[pos + 2] & 0xff) << 16 | (d[pos + 3] & 0xff) << 24;
            pos += 4;
            return v;
        }

        private int length() {
            long len = varint();
            if (len < 0 || pos + len > end) {
                throw new IllegalArgumentException("truncated SentencePiece model (length " + len + ")");
            }
            return (int) len;
        }

        byte[] bytes() {
            int len = length();
            byte[] out = new byte[len];
            System.arraycopy(d, pos, out, 0, len);
            pos += len;
            return out;
        }

        Reader sub() {
            int len = length();
            Reader r = new Reader(d, pos, pos + len);
            pos += len;
            return r;
        }

        void skip(int wire) {
            switch (wire) {
                case 0:
                    varint();
                    break;
                case 1:
                    pos += 8;
                    break;
                case 2: {
                    int len = length(); // read before adding: `pos += length()` would use the stale pos
                    pos += len;
                    break;
                }
                case 5:
                    pos += 4;
                    break;
                default:
                    throw new IllegalArgumentException("unsupported protobuf wire type " + wire);
            }
            if (pos > end) {
                throw new IllegalArgumentException("truncated SentencePiece model");
            }
        }
    }
}
