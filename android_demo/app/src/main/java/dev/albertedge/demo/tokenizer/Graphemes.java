package dev.albertedge.demo.tokenizer;

/**
 * Extended grapheme cluster boundaries (Unicode UAX #29 rules GB3-GB13), enough to reproduce how
 * the Hugging Face Precompiled normalizer groups code points before looking them up.
 *
 * <p>Hand-written because java.text.BreakIterator on JDK 8-17 does not implement extended clusters
 * and Android's ICU version varies by OS release; property classes come from Character.getType plus
 * the short explicit lists UAX #29 adds on top of general categories.
 */
final class Graphemes {
    private Graphemes() {}

    static final int OTHER = 0, CR = 1, LF = 2, CONTROL = 3, EXTEND = 4, ZWJ = 5, SPACING_MARK = 6, PREPEND = 7,
            L = 8, V = 9, T = 10, LV = 11, LVT = 12, RI = 13;

    static int category(int cp) {
        if (cp == 0x0D) return CR;
        if (cp == 0x0A) return LF;
        if (cp == 0x200D) return ZWJ;
        if (cp == 0x200C || cp == 0xFF9E || cp == 0xFF9F || (cp >= 0x1F3FB && cp <= 0x1F3FF) || (cp >= 0xE0020 && cp <= 0xE007F)) {
            return EXTEND;
        }
        if (isPrepend(cp)) return PREPEND;
        if (cp >= 0x1100 && cp <= 0x115F || cp >= 0xA960 && cp <= 0xA97C) return L;
        if (cp >= 0x1160 && cp <= 0x11A7 || cp >= 0xD7B0 && cp <= 0xD7C6) return V;
        if (cp >= 0x11A8 && cp <= 0x11FF || cp >= 0xD7CB && cp <= 0xD7FB) return T;
        if (cp >= 0xAC00 && cp <= 0xD7A3) return (cp - 0xAC00) % 28 == 0 ? LV : LVT;
        if (cp >= 0x1F1E6 && cp <= 0x1F1FF) return RI;
        if (cp == 0x0E33 || cp == 0x0EB3) return SPACING_MARK;
        switch (Character.getType(cp)) {
            case Character.NON_SPACING_MARK:
            case Character.ENCLOSING_MARK:
                return EXTEND;
            case Character.COMBINING_SPACING_MARK:
                return SPACING_MARK;
            case Character.CONTROL:
            case Character.LINE_SEPARATOR:
            case Character.PARAGRAPH_SEPARATOR:
            case Character.FORMAT:
            case Character.SURROGATE:
                return CONTROL;
            default:
                return OTHER;
        }
    }

    private static boolean isPrepend(int cp) {
        return (cp >= 0x0600 && cp <= 0x0605) || cp == 0x06DD || cp == 0x070F || cp == 0x0890 || cp == 0x0891
                || cp == 0x08E2 || cp == 0x0D4E || cp == 0x110BD || cp == 0x110CD || cp == 0x111C2 || cp == 0x111C3
                || cp == 0x1193F || cp == 0x11941 || cp == 0x11A3A || (cp >= 0x11A84 && cp <= 0x11A89) || cp == 0x11D46
                || cp == 0x11F02;
    }

    /** Extended_Pictographic, by the ranges of emoji-data.txt (coarse outside the emoji blocks). */
    static boolean isPictographic(int cp) {
        if (cp < 0xA9) return false;
        if (cp == 0xA9 || cp == 0xAE || cp == 0x203C || cp == 0x2049 || cp == 0x2122 || cp == 0x2139) return true;
        if (cp >= 0x2194 && cp <= 0x2199 || cp == 0x21A9 || cp == 0x21AA || cp == 0x231A || cp == 0x231B || cp == 0x2328
                || cp == 0x2388 || cp == 0x23CF || cp >= 0x23E9 && cp <= 0x23F3 || cp >= 0x23F8 && cp <= 0x23FA || cp == 0x24C2
                || cp == 0x25AA || cp == 0x25AB || cp == 0x25B6 || cp == 0x25C0 || cp >= 0x25FB && cp <= 0x25FE) return true;
        if (cp >= 0x2600 && cp <= 0x2605 || cp >= 0x2607 && cp <= 0x2612 || cp >= 0x2614 && cp <= 0x2685
                || cp >= 0x2690 && cp <= 0x2705 || cp >= 0x2708 && cp <= 0x2712 || cp == 0x2714 || cp == 0x2716
                || cp == 0x271D || cp == 0x2721 || cp == 0x2728 || cp == 0x2733 || cp == 0x2734 || cp == 0x2744
                || cp == 0x2747 || cp == 0x274C || cp == 0x274E || cp >= 0x2753 && cp <= 0x2755 || cp == 0x2757
                || cp >= 0x2763 && cp <= 0x2767 || cp >= 0x2795 && cp <= 0x2797 || cp == 0x27A1 || cp == 0x27B0
                || cp == 0x27BF || cp == 0x2934 || cp == 0x2935 || cp >= 0x2B05 && cp <= 0x2B07 || cp == 0x2B1B
                || cp == 0x2B1C || cp == 0x2B50 || cp == 0x2B55 || cp == 0x3030 || cp == 0x303D || cp == 0x3297
                || cp == 0x3299) return true;
        if (cp >= 0x1F000 && cp <= 0x1F0FF || cp >= 0x1F10D && cp <= 0x1F10F || cp == 0x1F12F
                || cp >= 0x1F16C && cp <= 0x1F171 || cp == 0x1F17E || cp == 0x1F17F || cp == 0x1F18E
                || cp >= 0x1F191 && cp <= 0x1F19A || cp >= 0x1F1AD && cp <= 0x1F1E5 || cp >= 0x1F201 && cp <= 0x1F20F
                || cp == 0x1F21A || cp == 0x1F22F || cp >= 0x1F232 && cp <= 0x1F23A || cp >= 0x1F23C && cp <= 0x1F23F
                || cp >= 0x1F249 && cp <= 0x1F3FA || cp >= 0x1F400 && cp <= 0x1F53D || cp >= 0x1F546 && cp <= 0x1F64F
                || cp >= 0x1F680 && cp <= 0x1F6FF || cp >= 0x1F774 && cp <= 0x1F77F || cp >= 0x1F7D5 && cp <= 0x1F7FF
                || cp >= 0x1F80C && cp <= 0x1F80F || cp >= 0x1F848 && cp <= 0x1F84F || cp >= 0x1F85A && cp <= 0x1F85F
                || cp >= 0x1F888 && cp <= 0x1F88F || cp >= 0x1F8AE && cp <= 0x1F8FF || cp >= 0x1F90C && cp <= 0x1F93A
                || cp >= 0x1F93C && cp <= 0x1F945 || cp >= 0x1F947 && cp <= 0x1FAFF || cp >= 0x1FC00 && cp <= 0x1FFFD) {
            return true;
        }
        return false;
    }

    /** End (exclusive, in chars) of the grapheme cluster starting at {@code start}. */
    static int next(String s, int start) {
        int n = s.length();
        int cp = s.codePointAt(start);
        int i = start + Character.charCount(cp);
        int prev = category(cp);
        boolean pictSeq = isPictographic(cp); // inside ExtPict Extend* (for GB11)
        int riCount = prev == RI ? 1 : 0;
        while (i < n) {
            int c = s.codePointAt(i);
            int cat = category(c);
            boolean join;
            if (prev == CR && cat == LF) join = true; // GB3
            else if (prev == CR || prev == LF || prev == CONTROL) join = false; // GB4
            else if (cat == CR || cat == LF || cat == CONTROL) join = false; // GB5
            else if (prev == L && (cat == L || cat == V || cat == LV || cat == LVT)) join = true; // GB6
            else if ((prev == LV || prev == V) && (cat == V || cat == T)) join = true; // GB7
            else if ((prev == LVT || prev == T) && cat == T) join = true; // GB8
            else if (cat == EXTEND || cat == ZWJ) join = true; // GB9
            else if (cat == SPACING_MARK) join = true; // GB9a
            else if (prev == PREPEND) join = true; // GB9b
            else if (prev == ZWJ && pictSeq && isPictographic(c)) join = true; // GB11
            else if (prev == RI && cat == RI && riCount % 2 == 1) join = true; // GB12/13
            else join = false;
            if (!join) break;
            if (cat == RI) riCount++;
            if (isPictographic(c)) pictSeq = true;
            else if (!(cat == EXTEND || (cat == ZWJ && pictSeq))) pictSeq = false;
            prev = cat;
            i += Character.charCount(c);
        }
        return i;
    }
}
