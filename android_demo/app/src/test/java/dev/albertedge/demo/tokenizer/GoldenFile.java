package dev.albertedge.demo.tokenizer;

import java.io.BufferedReader;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.zip.GZIPInputStream;

/** Reads golden files written by android_demo/tools/make_golden.py: JSON string TAB ids. */
final class GoldenFile {
    static final class Row {
        final String text;
        final int[] ids;

        Row(String text, int[] ids) {
            this.text = text;
            this.ids = ids;
        }
    }

    static List<Row> read(InputStream in) throws IOException {
        List<Row> rows = new ArrayList<>();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(new GZIPInputStream(in), StandardCharsets.UTF_8))) {
            String line;
            while ((line = r.readLine()) != null) {
                if (line.isEmpty()) continue;
                int tab = line.lastIndexOf('\t');
                String text = parseJsonString(line.substring(0, tab));
                String[] parts = line.substring(tab + 1).trim().split(" ");
                int[] ids = Arrays.stream(parts).mapToInt(Integer::parseInt).toArray();
                rows.add(new Row(text, ids));
            }
        }
        return rows;
    }

    static List<Row> read(String path) throws IOException {
        return read(new FileInputStream(path));
    }

    /** The subset of JSON string syntax json.dumps(ensure_ascii=True) produces. */
    static String parseJsonString(String s) {
        if (s.length() < 2 || s.charAt(0) != '"' || s.charAt(s.length() - 1) != '"') {
            throw new IllegalArgumentException("not a JSON string: " + s);
        }
        StringBuilder b = new StringBuilder();
        for (int i = 1; i < s.length() - 1; i++) {
            char c = s.charAt(i);
            if (c != '\\') {
                b.append(c);
                continue;
            }
            char e = s.charAt(++i);
            switch (e) {
                case '"': b.append('"'); break;
                case '\\': b.append('\\'); break;
                case '/': b.append('/'); break;
                case 'b': b.append('\b'); break;
                case 'f': b.append('\f'); break;
                case 'n': b.append('\n'); break;
                case 'r': b.append('\r'); break;
                case 't': b.append('\t'); break;
                case 'u':
                    b.append((char) Integer.parseInt(s.substring(i + 1, i + 5), 16));
                    i += 4;
                    break;
                default:
                    throw new IllegalArgumentException("bad escape \\" + e);
            }
        }
        return b.toString();
    }
}
