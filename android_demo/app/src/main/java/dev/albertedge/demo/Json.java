package dev.albertedge.demo;

import java.util.Collection;
import java.util.Iterator;
import java.util.Map;

/**
 * Writes Maps / Lists / arrays / numbers / strings as JSON. The benchmark report is built as plain
 * collections so the same code runs in JVM tests (where Android's org.json is only a stub).
 */
public final class Json {
    private Json() {}

    public static String write(Object value) {
        StringBuilder b = new StringBuilder();
        write(b, value, 0);
        return b.append('\n').toString();
    }

    private static void indent(StringBuilder b, int level) {
        b.append('\n');
        for (int i = 0; i < level; i++) {
            b.append("  ");
        }
    }

    @SuppressWarnings("unchecked")
    private static void write(StringBuilder b, Object v, int level) {
        if (v == null) {
            b.append("null");
        } else if (v instanceof String) {
            quote(b, (String) v);
        } else if (v instanceof Boolean) {
            b.append(v.toString());
        } else if (v instanceof Double || v instanceof Float) {
            double d = ((Number) v).doubleValue();
            if (Double.isNaN(d) || Double.isInfinite(d)) {
                b.append("null");
            } else {
                b.append(Double.toString(d));
            }
        } else if (v instanceof Number) {
            b.append(((Number) v).longValue());
        } else if (v instanceof Map) {
            Map<String, Object> m = (Map<String, Object>) v;
            if (m.isEmpty()) {
                b.append("{}");
                return;
            }
            b.append('{');
            Iterator<Map.Entry<String, Object>> it = m.entrySet().iterator();
            while (it.hasNext()) {
                Map.Entry<String, Object> e = it.next();
                indent(b, level + 1);
                quote(b, e.getKey());
                b.append(": ");
                write(b, e.getValue(), level + 1);
                if (it.hasNext()) {
                    b.append(',');
                }
            }
            indent(b, level);
            b.append('}');
        } else if (v instanceof Collection) {
            Collection<Object> c = (Collection<Object>) v;
            b.append('[');
            int i = 0;
            for (Object x : c) {
                if (i++ > 0) {
                    b.append(", ");
                }
                write(b, x, level + 1);
            }
            b.append(']');
        } else if (v instanceof int[]) {
            int[] a = (int[]) v;
            b.append('[');
            for (int i = 0; i < a.length; i++) {
                b.append(i > 0 ? ", " : "").append(a[i]);
            }
            b.append(']');
        } else {
            throw new IllegalArgumentException("cannot write " + v.getClass() + " as JSON");
        }
    }

    static void quote(StringBuilder b, String s) {
        b.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"': b.append("\\\""); break;
                case '\\': b.append("\\\\"); break;
                case '\n': b.append("\\n"); break;
                case '\r': b.append("\\r"); break;
                case '\t': b.append("\\t"); break;
                default:
                    if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
            }
        }
        b.append('"');
    }
}
