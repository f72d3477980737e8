package dev.albertedge.demo.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Behaviour that the golden files cover only implicitly, stated directly. */
class AlbertTokenizerTest {
    @Test
    void modelParsesWithAlbertSpecialLayout() throws IOException {
        AlbertTokenizer t = GoldenTest.own();
        assertEquals(8000, t.vocabSize());
        assertEquals(0, t.padId);
        assertEquals(1, t.unkId);
        assertEquals(2, t.clsId);
        assertEquals(3, t.sepId);
        assertEquals("[MASK]", t.piece(4));
    }

    @Test
    void emptyAndBlankTextGiveClsSep() throws IOException {
        AlbertTokenizer t = GoldenTest.own();
        assertArrayEquals(new int[] {2, 3}, t.encode("", 128));
        assertArrayEquals(new int[] {2, 3}, t.encode(" \t\n\u3000 ", 128));
    }

    @Test
    void truncationKeepsSep() throws IOException {
        AlbertTokenizer t = GoldenTest.own();
        int[] full = t.encode("the movie was not good at all , really", 512);
        assertTrue(full.length > 6);
        int[] cut = t.encode("the movie was not good at all , really", 6);
        assertEquals(6, cut.length);
        assertEquals(2, cut[0]);
        assertEquals(3, cut[5]);
        for (int i = 1; i < 5; i++) assertEquals(full[i], cut[i]);
        assertThrows(IllegalArgumentException.class, () -> t.encode("x", 1));
    }

    @Test
    void normalizationLowercasesStripsAccentsAndQuotes() throws IOException {
        AlbertTokenizer t = GoldenTest.own();
        assertEquals("cafe \"ok\" \"x\"", t.normalize("Café ``OK'' ``X''"));
        assertArrayEquals(t.encode("cafe", 32), t.encode("CAFÉ", 32));
        // NFKD folds compatibility forms (fullwidth letters, ligatures) before lookup.
        assertArrayEquals(t.encode("film", 32), t.encode("\uFF26\uFF29\uFF2C\uFF2D", 32));
        assertArrayEquals(t.encode("film", 32), t.encode("\uFB01lm", 32));
    }

    @Test
    void specialTokensInTextMapToTheirIds() throws IOException {
        AlbertTokenizer t = GoldenTest.own();
        List<Integer> ids = t.tokenize("good [SEP] bad [MASK]");
        assertTrue(ids.contains(3));
        assertEquals(4, (int) ids.get(ids.size() - 1));
    }

    @Test
    void unknownCharactersFuseIntoOneUnk() throws IOException {
        AlbertTokenizer t = GoldenTest.own();
        // Characters absent from the 8k SST-2 vocabulary (Gothic letters): one <unk> for the run.
        List<Integer> ids = t.tokenize("\uD800\uDF30\uD800\uDF31\uD800\uDF32");
        int unk = 0;
        for (int id : ids) if (id == t.unkId) unk++;
        assertEquals(1, unk);
    }

    @Test
    void digitCommaPiecesArePenalized() {
        assertTrue(AlbertTokenizer.endsWithDigitComma("\u25812010,"));
        assertTrue(AlbertTokenizer.endsWithDigitComma("9,"));
        assertTrue(!AlbertTokenizer.endsWithDigitComma(","));
        assertTrue(!AlbertTokenizer.endsWithDigitComma("a,"));
        assertTrue(!AlbertTokenizer.endsWithDigitComma("9."));
    }

    @Test
    void rejectsGarbageModel() {
        assertThrows(IllegalArgumentException.class, () -> SpmModel.parse(new byte[] {1, 2, 3}));
        assertThrows(IllegalArgumentException.class, () -> SpmModel.parse(new byte[0]));
    }
}
