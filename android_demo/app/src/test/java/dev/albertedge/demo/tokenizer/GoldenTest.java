package dev.albertedge.demo.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Java ids == Python (Hugging Face fast tokenizer) ids, row for row.
 *
 * <p>The self-trained 8k model and its golden file are test resources, so that test always runs. The
 * official albert-base-v2 model and the SST-2 dev goldens come from ../shared through system
 * properties set by tests/test_android_tokenizer.py; without them those tests are skipped (JUnit
 * reports the reason).
 */
class GoldenTest {
    static final String OWN_MODEL = "/spm/sst2_unigram_8k/spiece.model";

    static AlbertTokenizer own() throws IOException {
        try (InputStream in = GoldenTest.class.getResourceAsStream(OWN_MODEL)) {
            // Converted from a bare spiece.model, transformers gives [MASK] no lstrip.
            return new AlbertTokenizer(SpmModel.read(in), false);
        }
    }

    static AlbertTokenizer official() throws IOException {
        String path = System.getProperty("albertedge.official.spm", "");
        assumeTrue(!path.isEmpty(), "official albert-base-v2 spiece.model not given (../shared absent)");
        try (InputStream in = new FileInputStream(path)) {
            return new AlbertTokenizer(SpmModel.read(in), true);
        }
    }

    static String sysPathOrSkip(String prop, String why) {
        String path = System.getProperty(prop, "");
        assumeTrue(!path.isEmpty(), why);
        return path;
    }

    /** Compares every row and fails listing the first mismatches (all rows are always checked). */
    static void check(AlbertTokenizer tok, List<GoldenFile.Row> rows, String what, int minRows) {
        assertTrue(rows.size() >= minRows, what + ": only " + rows.size() + " golden rows");
        List<String> bad = new ArrayList<>();
        int mismatches = 0;
        for (GoldenFile.Row r : rows) {
            int[] got = tok.encode(r.text, Integer.MAX_VALUE);
            if (!Arrays.equals(got, r.ids)) {
                mismatches++;
                if (bad.size() < 8) {
                    bad.add(escape(r.text) + "\n   python " + Arrays.toString(r.ids) + "\n   java   " + Arrays.toString(got));
                }
            }
        }
        System.out.println("GOLDEN " + what + ": " + (rows.size() - mismatches) + "/" + rows.size() + " identical");
        assertEquals(0, mismatches, what + ": " + mismatches + " of " + rows.size() + " differ, e.g.\n" + String.join("\n", bad));
    }

    static String escape(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (int i = 0; i < s.length() && i < 200; i++) {
            char c = s.charAt(i);
            if (c >= 0x20 && c < 0x7f) b.append(c);
            else b.append(String.format("\\u%04x", (int) c));
        }
        return b.append(s.length() > 200 ? "...\"" : "\"").toString();
    }

    @Test
    void selfTrainedModelGeneratedStrings() throws IOException {
        try (InputStream in = GoldenTest.class.getResourceAsStream("/golden/generated_sst2_unigram_8k.tsv.gz")) {
            check(own(), GoldenFile.read(in), "generated strings, self-trained 8k model", 10000);
        }
    }

    @Test
    void officialModelGeneratedStrings() throws IOException {
        AlbertTokenizer tok = official();
        try (InputStream in = GoldenTest.class.getResourceAsStream("/golden/generated_albert_base_v2.tsv.gz")) {
            check(tok, GoldenFile.read(in), "generated strings, albert-base-v2 30k model", 10000);
        }
    }

    @Test
    void officialModelSst2Dev() throws IOException {
        String path = sysPathOrSkip("albertedge.golden.sst2dev.official", "SST-2 dev golden (albert-base-v2) not given (../shared absent)");
        check(official(), GoldenFile.read(path), "SST-2 dev, albert-base-v2 30k model", 872);
    }

    /** Runs like "wow!!!!" whose best segmentations are the same pieces in another order: the tie must
     *  resolve as in Hugging Face (the strict "&gt;" over shorter keys first, in exact float64 sums). */
    @Test
    void officialModelTiedRuns() throws IOException {
        String path = sysPathOrSkip("albertedge.golden.ties.official", "tied-runs golden (albert-base-v2) not given (../shared absent)");
        check(official(), GoldenFile.read(path), "tied runs, albert-base-v2 30k model", 4000);
    }

    @Test
    void selfTrainedModelTiedRuns() throws IOException {
        String path = sysPathOrSkip("albertedge.golden.ties.own", "tied-runs golden (self-trained model) not given");
        check(own(), GoldenFile.read(path), "tied runs, self-trained 8k model", 4000);
    }

    @Test
    void selfTrainedModelSst2Dev() throws IOException {
        String path = sysPathOrSkip("albertedge.golden.sst2dev.own", "SST-2 dev golden (self-trained model) not given (../shared absent)");
        check(own(), GoldenFile.read(path), "SST-2 dev, self-trained 8k model", 872);
    }
}
