package dev.albertedge.demo.tokenizer;

import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;

/**
 * ALBERT's tokenizer in plain Java: the pipeline of the Hugging Face fast AlbertTokenizer
 * (the reference ids come from {@code albert_edge.tokenizer.load_tokenizer}), over a SentencePiece
 * unigram model read from spiece.model. A golden test checks it id-for-id against Python.
 *
 * <ol>
 *   <li>special tokens ({@code <pad> <unk> [CLS] [SEP] [MASK]}) are cut out of the raw text first;</li>
 *   <li>each remaining segment: {@code ``} and {@code ''} become {@code "}; NFKD; every combining mark
 *       is dropped (keep_accents=false); per-code-point lower-casing (these three from tables generated
 *       from the reference, {@link HfUnicode}); then SentencePiece's precompiled nmt_nfkc charsmap;</li>
 *   <li>split on Unicode White_Space; each word gets a leading U+2581 and is split again before
 *       every inner U+2581 (Metaspace, prepend_scheme=always, split=true);</li>
 *   <li>each piece: Viterbi over the vocabulary scores; a code point with no single-character piece
 *       scores min_score - 10 as {@code <unk>}, and adjacent unknowns fuse into one {@code <unk>}.</li>
 * </ol>
 */
public final class AlbertTokenizer {
    public static final String SPACE = "\u2581";
    private static final double UNK_PENALTY = 10.0;

    private final String[] pieces;
    private final double[] scores;
    private final HashMap<String, Integer> ids;
    private final CharsMap charsMap;
    private final int maxPieceChars;
    private final double unkScore;
    private final String[] specials;
    private final boolean[] specialLstrip;
    private final int[] specialIds;
    public final int unkId;
    public final int clsId;
    public final int sepId;
    public final int padId;

    public AlbertTokenizer(SpmModel model) {
        this(model, true);
    }

    /** @param maskLstrip whether [MASK] swallows whitespace before it (true in albert-base-v2's tokenizer.json). */
    public AlbertTokenizer(SpmModel model, boolean maskLstrip) {
        int n = model.size();
        pieces = model.pieces;
        scores = new double[n];
        ids = new HashMap<String, Integer>(n * 2);
        double min = Double.POSITIVE_INFINITY;
        int maxLen = 1;
        int unk = -1;
        for (int i = 0; i < n; i++) {
            scores[i] = model.scores[i];
            if (endsWithDigitComma(pieces[i])) {
                // transformers' AlbertConverter pushes "<digit>," pieces down by 100 so "9," splits as
                // "9" + "," (the original ALBERT tokenizer did this split by hand).
                scores[i] -= 100.0;
            }
            min = Math.min(min, scores[i]);
            if (!ids.containsKey(pieces[i])) {
                ids.put(pieces[i], i);
            }
            maxLen = Math.max(maxLen, pieces[i].codePointCount(0, pieces[i].length()));
            if (model.types[i] == SpmModel.TYPE_UNKNOWN && unk < 0) {
                unk = i;
            }
        }
        unkScore = min - UNK_PENALTY;
        maxPieceChars = maxLen;
        charsMap = new CharsMap(model.precompiledCharsmap);
        unkId = unk >= 0 ? unk : idOr("<unk>", 1);
        clsId = idOr("[CLS]", 2);
        sepId = idOr("[SEP]", 3);
        padId = idOr("<pad>", 0);
        specials = new String[] {"<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"};
        specialLstrip = new boolean[] {false, false, false, false, maskLstrip};
        specialIds = new int[specials.length];
        for (int i = 0; i < specials.length; i++) {
            specialIds[i] = idOr(specials[i], -1);
        }
    }

    static boolean endsWithDigitComma(String piece) {
        int n = piece.length();
        if (n < 2 || piece.charAt(n - 1) != ',') {
            return false;
        }
        int cp = piece.codePointBefore(n - 1);
        int t = Character.getType(cp);
        // Python's str.isdigit: decimal digits plus digit-valued others (superscripts, circled digits).
        return t == Character.DECIMAL_DIGIT_NUMBER
                || (t == Character.OTHER_NUMBER && Character.getNumericValue(cp) >= 0 && Character.getNumericValue(cp) <= 9);
    }

    public static AlbertTokenizer load(InputStream spieceModel) throws IOException {
        return new AlbertTokenizer(SpmModel.read(spieceModel));
    }

    private int idOr(String piece, int fallback) {
        Integer id = ids.get(piece);
        return id != null ? id : fallback;
    }

    public int vocabSize() {
        return pieces.length;
    }

    public String piece(int id) {
        return pieces[id];
    }

    /** [CLS] pieces [SEP], cut to maxLength (>= 2) keeping the final [SEP]. */
    public int[] encode(String text, int maxLength) {
        if (maxLength < 2) {
            throw new IllegalArgumentException("maxLength must be at least 2");
        }
        List<Integer> body = tokenize(text);
        int keep = Math.min(body.size(), maxLength - 2);
        int[] out = new int[keep + 2];
        out[0] = clsId;
        for (int i = 0; i < keep; i++) {
            out[i + 1] = body.get(i);
        }
        out[keep + 1] = sepId;
        return out;
    }

    /** Token ids without [CLS]/[SEP]. */
    public List<Integer> tokenize(String text) {
        List<Integer> out = new ArrayList<Integer>();
        int pos = 0;
        int segStart = 0;
        int n = text.length();
        while (pos < n) {
            int which = -1;
            for (int s = 0; s < specials.length; s++) {
                if (specialIds[s] >= 0 && text.startsWith(specials[s], pos)) {
                    which = s;
                    break;
                }
            }
            if (which < 0) {
                pos++;
                continue;
            }
            int segEnd = pos;
            if (specialLstrip[which]) {
                while (segEnd > segStart) {
                    int cp = text.codePointBefore(segEnd);
                    if (!isWhitespace(cp)) {
                        break;
                    }
                    segEnd -= Character.charCount(cp);
                }
            }
            encodeSegment(text.substring(segStart, segEnd), out);
            out.add(specialIds[which]);
            pos += specials[which].length();
            segStart = pos;
        }
        encodeSegment(text.substring(segStart), out);
        return out;
    }

    /** The normalized form of a segment (before whitespace splitting); public for tests. */
    public String normalize(String s) {
        if (s.isEmpty()) {
            return s;
        }
        s = s.replace("``", "\"").replace("''", "\"");
        // NFKD, dropping combining marks, lower-casing: per code point from tables taken from the
        // reference tokenizer (see HfUnicode), not the runtime's Unicode version.
        StringBuilder b = new StringBuilder(s.length() + 8);
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            i += Character.charCount(cp);
            String d = UnicodeData.decompose(cp);
            if (d == null) {
                appendFolded(b, cp);
            } else {
                for (int j = 0; j < d.length(); ) {
                    int x = d.codePointAt(j);
                    j += Character.charCount(x);
                    appendFolded(b, x);
                }
            }
        }
        return charsMap.normalize(b.toString());
    }

    private static void appendFolded(StringBuilder b, int cp) {
        if (UnicodeData.isMark(cp)) {
            return;
        }
        String lower = UnicodeData.lower(cp);
        if (lower != null) {
            b.append(lower);
        } else {
            b.appendCodePoint(cp);
        }
    }

    /** Unicode White_Space (what Rust's char::is_whitespace tests), not Java's narrower isWhitespace. */
    static boolean isWhitespace(int cp) {
        return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680
                || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F
                || cp == 0x3000;
    }

    private void encodeSegment(String segment, List<Integer> out) {
        if (segment.isEmpty()) {
            return;
        }
        String norm = normalize(segment);
        int i = 0;
        int n = norm.length();
        while (i < n) {
            while (i < n && isWhitespace(norm.codePointAt(i))) {
                i += Character.charCount(norm.codePointAt(i));
            }
            if (i >= n) {
                break;
            }
            int start = i;
            while (i < n && !isWhitespace(norm.codePointAt(i))) {
                i += Character.charCount(norm.codePointAt(i));
            }
            String word = norm.substring(start, i);
            if (!word.startsWith(SPACE)) {
                word = SPACE + word;
            }
            // Split before every U+2581 (the delimiter is merged with what follows it).
            int p = 0;
            while (p < word.length()) {
                int q = word.indexOf(SPACE, p + 1);
                if (q < 0) {
                    q = word.length();
                }
                viterbi(word.substring(p, q), out);
                p = q;
            }
        }
    }

    private void viterbi(String s, List<Integer> out) {
        int len = s.codePointCount(0, s.length());
        int[] offs = new int[len + 1];
        for (int i = 0, k = 0; k < len; k++) {
            offs[k] = i;
            i += Character.charCount(s.codePointAt(i));
            offs[k + 1] = i;
        }
        double[] best = new double[len + 1];
        int[] from = new int[len + 1];
        int[] via = new int[len + 1];
        for (int k = 1; k <= len; k++) {
            from[k] = -1;
        }
        for (int start = 0; start < len; start++) {
            double base = best[start];
            boolean hasSingle = false;
            int maxEnd = Math.min(len, start + maxPieceChars);
            // Shorter keys first and a strict ">", as the reference trie walk does, so ties resolve identically.
            for (int end = start + 1; end <= maxEnd; end++) {
                Integer id = ids.get(s.substring(offs[start], offs[end]));
                if (id == null) {
                    continue;
                }
                double cand = scores[id] + base;
                if (from[end] < 0 || cand > best[end]) {
                    best[end] = cand;
                    from[end] = start;
                    via[end] = id;
                }
                if (end == start + 1) {
                    hasSingle = true;
                }
            }
            if (!hasSingle) {
                int end = start + 1;
                double cand = unkScore + base;
                if (from[end] < 0 || cand > best[end]) {
                    best[end] = cand;
                    from[end] = start;
                    via[end] = unkId;
                }
            }
        }
        // Backtrack; runs of <unk> become one piece whose id is looked up again (as the reference does).
        ArrayList<String> rev = new ArrayList<String>();
        int end = len;
        int unkEnd = -1;
        while (end > 0) {
            int start = from[end];
            if (via[end] == unkId) {
                if (unkEnd < 0) {
                    unkEnd = end;
                }
            } else {
                if (unkEnd >= 0) {
                    rev.add(s.substring(offs[end], offs[unkEnd]));
                    unkEnd = -1;
                }
                rev.add(s.substring(offs[start], offs[end]));
            }
            end = start;
        }
        if (unkEnd >= 0) {
            rev.add(s.substring(0, offs[unkEnd]));
        }
        for (int k = rev.size() - 1; k >= 0; k--) {
            Integer id = ids.get(rev.get(k));
            out.add(id != null ? id : unkId);
        }
    }
}
