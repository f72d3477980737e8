package dev.albertedge.demo.tokenizer;

/**
 * SentencePiece's {@code precompiled_charsmap} (the nmt_nfkc rules compiled into a darts-clone
 * double-array trie plus a pool of NUL-terminated replacement strings), applied exactly the way the
 * Hugging Face {@code Precompiled} normalizer applies it, since that tokenizer is the reference:
 * <ul>
 *   <li>text is walked grapheme by grapheme; a grapheme shorter than 6 UTF-8 bytes is first looked up
 *       as a whole, otherwise (or when that finds nothing) each code point is looked up alone;</li>
 *   <li>a lookup takes the value of the SHORTEST trie key that prefixes the chunk and replaces the
 *       whole chunk with it (HF's {@code results[0]}), quirk included.</li>
 * </ul>
 */
public final class CharsMap {
    private final int[] units;
    private final byte[] pool;

    public CharsMap(byte[] blob) {
        if (blob.length == 0) {
            units = new int[0];
            pool = new byte[0];
            return;
        }
        if (blob.length < 4) {
            throw new IllegalArgumentException("precompiled_charsmap too short");
        }
        int trieBytes = (blob[0] & 0xff) | (blob[1] & 0xff) << 8 | (blob[2] & 0xff) << 16 | (blob[3] & 0xff) << 24;
        if (trieBytes < 0 || trieBytes % 4 != 0 || 4 + trieBytes > blob.length) {
            throw new IllegalArgumentException("precompiled_charsmap: bad trie size " + trieBytes);
        }
        units = new int[trieBytes / 4];
        for (int i = 0; i < units.length; i++) {
            int o = 4 + 4 * i;
            units[i] = (blob[o] & 0xff) | (blob[o + 1] & 0xff) << 8 | (blob[o + 2] & 0xff) << 16 | (blob[o + 3] & 0xff) << 24;
        }
        pool = new byte[blob.length - 4 - trieBytes];
        System.arraycopy(blob, 4 + trieBytes, pool, 0, pool.length);
    }

    public boolean isEmpty() {
        return units.length == 0;
    }

    private static int offset(int u) {
        return (u >>> 10) << ((u & (1 << 9)) >>> 6);
    }

    private static int label(int u) {
        return u & (0x80000000 | 0xff);
    }

    private static boolean hasLeaf(int u) {
        return ((u >>> 8) & 1) == 1;
    }

    /** Pool offset of the shortest trie key prefixing key[from, to), or -1. */
    int firstPrefix(byte[] key, int from, int to) {
        if (units.length == 0) {
            return -1;
        }
        int node = offset(units[0]);
        for (int i = from; i < to; i++) {
            int c = key[i] & 0xff;
            if (c == 0) {
                break;
            }
            node ^= c;
            if (node < 0 || node >= units.length) {
                return -1;
            }
            int u = units[node];
            if (label(u) != c) {
                return -1;
            }
            node ^= offset(u);
            if (hasLeaf(u)) {
                if (node < 0 || node >= units.length) {
                    return -1;
                }
                return units[node] & 0x7fffffff;
            }
        }
        return -1;
    }

    private String replacement(int index) {
        int end = index;
        while (end < pool.length && pool[end] != 0) {
            end++;
        }
        return new String(pool, index, end - index, SpmModel.UTF8);
    }

    /** Replacement for a chunk (a grapheme or one code point), or null when no rule applies. */
    String transform(String chunk) {
        byte[] b = chunk.getBytes(SpmModel.UTF8);
        int idx = firstPrefix(b, 0, b.length);
        return idx < 0 ? null : replacement(idx);
    }

    public String normalize(String s) {
        if (units.length == 0 || s.isEmpty()) {
            return s;
        }
        StringBuilder out = new StringBuilder(s.length());
        int start = 0;
        while (start < s.length()) {
            int end = Graphemes.next(s, start);
            String g = s.substring(start, end);
            String whole = null;
            if (utf8Length(g) < 6) {
                whole = transform(g);
            }
            if (whole != null) {
                out.append(whole);
            } else {
                int i = start;
                while (i < end) {
                    int cp = s.codePointAt(i);
                    int n = Character.charCount(cp);
                    String part = s.substring(i, i + n);
                    String t = transform(part);
                    out.append(t != null ? t : part);
                    i += n;
                }
            }
            start = end;
        }
        return out.toString();
    }

    static int utf8Length(String s) {
        int n = 0;
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            n += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
            i += Character.charCount(cp);
        }
        return n;
    }
}
