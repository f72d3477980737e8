package dev.albertedge.demo.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedWriter;
import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * Every code point through the normalizer. With -Dalbertedge.interop.dir set, the code points whose
 * normalized form differs from themselves are written there and tests/test_android_tokenizer.py
 * compares them, all 1,112,064, with the Python reference normalizer.
 */
class UnicodeSweepTest {
    @Test
    void tablesAnswerKnownCases() {
        assertEquals("e\u0301", UnicodeData.decompose(0xE9));
        assertEquals("\u1100\u1161", UnicodeData.decompose(0xAC00));
        assertEquals("(h)", UnicodeData.decompose(0x24A3));
        assertNull(UnicodeData.decompose('a'));
        assertTrue(UnicodeData.isMark(0x301));
        assertTrue(!UnicodeData.isMark('a'));
        assertEquals("a", UnicodeData.lower('A'));
        assertEquals("i\u0307", UnicodeData.lower(0x130));
        assertNull(UnicodeData.lower('a'));
    }

    @Test
    void everyCodePoint() throws IOException {
        AlbertTokenizer t = GoldenTest.own();
        String dir = System.getProperty("albertedge.interop.dir", "");
        Writer w = dir.isEmpty() ? null
                : new BufferedWriter(new OutputStreamWriter(new FileOutputStream(new File(dir, "normalized.tsv")), StandardCharsets.UTF_8));
        int changed = 0;
        for (int cp = 0; cp < 0x110000; cp++) {
            if (cp >= 0xD800 && cp <= 0xDFFF) continue;
            String s = new String(Character.toChars(cp));
            String n = t.normalize(s);
            if (!n.equals(s)) {
                changed++;
                if (w != null) {
                    StringBuilder b = new StringBuilder(Integer.toHexString(cp)).append('\t');
                    for (int i = 0; i < n.length(); ) {
                        int x = n.codePointAt(i);
                        i += Character.charCount(x);
                        b.append(Integer.toHexString(x)).append(' ');
                    }
                    w.write(b.toString().trim());
                    w.write('\n');
                }
            }
        }
        if (w != null) w.close();
        assertTrue(changed > 10000, "only " + changed + " code points change under normalization");
    }
}
