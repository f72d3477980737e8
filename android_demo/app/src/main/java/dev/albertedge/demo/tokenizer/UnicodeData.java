package dev.albertedge.demo.tokenizer;

import java.util.ArrayList;
import java.util.Arrays;

/**
 * Lookups over the generated {@link HfUnicode} tables: full compatibility decomposition, "is a
 * combining mark" (what StripAccents removes) and lower-case mapping of one code point, all as the
 * reference Python tokenizer defines them, so results do not depend on the runtime's Unicode version.
 */
final class UnicodeData {
    private UnicodeData() {}

    private static final int[] DECOMP_KEYS;
    private static final String[] DECOMP_VALUES;
    private static final int[] LOWER_KEYS;
    private static final String[] LOWER_VALUES;
    private static final int[] MARK_LO;
    private static final int[] MARK_HI;

    static {
        ArrayList<Object> d = parseMap(join(HfUnicode.DECOMPOSITIONS));
        DECOMP_KEYS = (int[]) d.get(0);
        DECOMP_VALUES = (String[]) d.get(1);
        ArrayList<Object> l = parseMap(join(HfUnicode.LOWER));
        LOWER_KEYS = (int[]) l.get(0);
        LOWER_VALUES = (String[]) l.get(1);
        String r = join(HfUnicode.MARK_RANGES);
        int n = r.codePointCount(0, r.length()) / 2;
        MARK_LO = new int[n];
        MARK_HI = new int[n];
        for (int i = 0, k = 0; k < n; k++) {
            MARK_LO[k] = r.codePointAt(i);
            i += Character.charCount(MARK_LO[k]);
            MARK_HI[k] = r.codePointAt(i);
            i += Character.charCount(MARK_HI[k]);
        }
    }

    private static String join(String[] parts) {
        StringBuilder b = new StringBuilder();
        for (String p : parts) {
            b.append(p);
        }
        return b.toString();
    }

    /** "key value \0 key value \0 ..." -> [sorted int keys, values]. */
    private static ArrayList<Object> parseMap(String s) {
        ArrayList<Integer> keys = new ArrayList<Integer>();
        ArrayList<String> values = new ArrayList<String>();
        int i = 0;
        while (i < s.length()) {
            int key = s.codePointAt(i);
            i += Character.charCount(key);
            int end = s.indexOf('\0', i);
            keys.add(key);
            values.add(s.substring(i, end));
            i = end + 1;
        }
        int[] k = new int[keys.size()];
        for (int j = 0; j < k.length; j++) {
            k[j] = keys.get(j);
            if (j > 0 && k[j] <= k[j - 1]) {
                throw new IllegalStateException("HfUnicode table is not sorted");
            }
        }
        ArrayList<Object> out = new ArrayList<Object>();
        out.add(k);
        out.add(values.toArray(new String[0]));
        return out;
    }

    /** Full NFKD of one code point, or null when it is its own decomposition. */
    static String decompose(int cp) {
        if (cp >= 0xAC00 && cp <= 0xD7A3) {
            int s = cp - 0xAC00;
            StringBuilder b = new StringBuilder(3);
            b.append((char) (0x1100 + s / 588)).append((char) (0x1161 + (s % 588) / 28));
            if (s % 28 != 0) {
                b.append((char) (0x11A7 + s % 28));
            }
            return b.toString();
        }
        int i = Arrays.binarySearch(DECOMP_KEYS, cp);
        return i >= 0 ? DECOMP_VALUES[i] : null;
    }

    static boolean isMark(int cp) {
        int lo = 0;
        int hi = MARK_LO.length - 1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            if (cp < MARK_LO[mid]) {
                hi = mid - 1;
            } else if (cp > MARK_HI[mid]) {
                lo = mid + 1;
            } else {
                return true;
            }
        }
        return false;
    }

    /** Lower-case form of one code point, or null when it has none. */
    static String lower(int cp) {
        int i = Arrays.binarySearch(LOWER_KEYS, cp);
        return i >= 0 ? LOWER_VALUES[i] : null;
    }
}
