package dev.albertedge.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Statistics and the benchmark JSON. When -Dalbertedge.interop.dir is set (by tests/test_android_jvm.py)
 * the outputs are also written there, and pytest checks them with the desktop code: the result against
 * albert_edge.benchmarks.schema.validate, the statistics against albert_edge.benchmarks.stats.summarize.
 */
class BenchmarkTest {
    static void writeInterop(String name, String text) throws IOException {
        String dir = System.getProperty("albertedge.interop.dir", "");
        if (!dir.isEmpty()) {
            Files.write(new File(dir, name).toPath(), text.getBytes(StandardCharsets.UTF_8));
        }
    }

    @Test
    void percentilesMatchNumpyLinear() {
        double[] x = {7, 1, 9, 3, 5, 2, 8, 10, 4, 6};
        Map<String, Object> s = BenchStats.summarize(x);
        assertEquals(1.9, (double) s.get("p10"), 1e-12);
        assertEquals(5.5, (double) s.get("p50"), 1e-12);
        assertEquals(9.1, (double) s.get("p90"), 1e-12);
        assertEquals(9.91, (double) s.get("p99"), 1e-12);
        assertEquals(4.5, (double) s.get("iqr"), 1e-12);
        assertEquals(5.5, (double) s.get("mean"), 1e-12);
        assertEquals(1.0, (double) s.get("min"));
        assertEquals(10.0, (double) s.get("max"));
        assertEquals(10, s.get("n"));
        assertEquals(42.0, (double) BenchStats.summarize(new double[] {42}).get("p99"));
        assertThrows(IllegalArgumentException.class, () -> BenchStats.summarize(new double[0]));
        assertThrows(IllegalArgumentException.class, () -> BenchStats.summarize(new double[] {1, Double.NaN}));
    }

    @Test
    void randomSamplesForPythonComparison() throws IOException {
        Random r = new Random(7);
        List<Object> cases = new ArrayList<>();
        for (int n : new int[] {1, 2, 3, 10, 51, 200}) {
            double[] x = new double[n];
            List<Object> xs = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                x[i] = Math.exp(r.nextGaussian()) * 10;
                xs.add(x[i]);
            }
            Map<String, Object> c = new LinkedHashMap<>();
            c.put("samples", xs);
            c.put("stats", BenchStats.summarize(x));
            cases.add(c);
        }
        writeInterop("stats.json", Json.write(cases));
    }

    @Test
    void benchmarkResultHasOneLatencyEntryPerBucket() throws Exception {
        FakeBackend be = new FakeBackend(2);
        ModelSpec spec = ClassifierTest.spec("negative", "positive");
        Classifier c = new Classifier(ClassifierTest.tokenizer(), be, spec);
        Map<String, Object> host = new LinkedHashMap<>();
        host.put("platform", "android");
        host.put("hostname", "jvm-test");
        host.put("cpu_model", "test");
        host.put("cpu_flags", new ArrayList<Object>());
        host.put("cores_logical", 1);
        Map<String, Object> versions = new LinkedHashMap<>();
        versions.put("albert-edge-demo", Versions.APP);
        Map<String, Object> result = new Benchmark(c, spec).run("a \"quoted\"\ttext", 4, 1, 2, 0.25, host, versions,
                be.describe(), null);
        // 3 buckets x (1 warm-up + 4 runs) synthetic + 5 end-to-end runs.
        assertEquals(3 * 5 + 5, be.buckets.size());
        for (int i = 0; i < 15; i++) {
            int bucket = ClassifierTest.BUCKETS[i / 5];
            assertEquals(bucket, (int) be.buckets.get(i));
            int[] m = be.masks.get(i);
            for (int v : m) assertEquals(1, v); // synthetic inputs fill the bucket exactly
            assertEquals(2, be.ids.get(i)[0]);
            assertEquals(3, be.ids.get(i)[bucket - 1]);
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> art = (Map<String, Object>) ((List<Object>) result.get("artifacts")).get(0);
        assertEquals("tflite-int8", art.get("name"));
        assertEquals(3, ((List<?>) art.get("latency")).size());
        String json = Json.write(result);
        assertTrue(json.contains("\"kind\": \"albert-edge-bench\""));
        assertTrue(json.contains("\"tool\": \"android-app\""));
        writeInterop("bench_result.json", json);
    }

    @Test
    void jsonEscapes() {
        assertEquals("\"a\\\"b\\\\c\\n\\u0001\u00e9\"\n", Json.write("a\"b\\c\n\u0001\u00e9"));
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("x", Double.NaN);
        m.put("y", new int[] {1, 2});
        assertEquals("{\n  \"x\": null,\n  \"y\": [1, 2]\n}\n", Json.write(m));
    }
}
