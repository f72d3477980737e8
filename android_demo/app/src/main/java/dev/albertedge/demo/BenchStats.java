package dev.albertedge.demo;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The STATS object of the benchmark schema (benchmarks/schema.py): p10/p50/p90/p99,
 * mean, min, max, iqr, n, with numpy's default (linear) percentile so desktop and phone numbers
 * are computed the same way.
 */
public final class BenchStats {
    private BenchStats() {}

    /** q-th percentile (0..100) of sorted samples, linear interpolation between order statistics. */
    public static double percentile(double[] sorted, double q) {
        if (sorted.length == 0) {
            throw new IllegalArgumentException("percentile of an empty sample");
        }
        if (q < 0 || q > 100) {
            throw new IllegalArgumentException("percentile q=" + q + " outside 0..100");
        }
        double pos = (sorted.length - 1) * q / 100.0;
        int lo = (int) Math.floor(pos);
        int hi = Math.min(lo + 1, sorted.length - 1);
        double frac = pos - lo;
        return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
    }

    public static Map<String, Object> summarize(double[] samplesMs) {
        if (samplesMs.length == 0) {
            throw new IllegalArgumentException("cannot summarize an empty sample");
        }
        double[] s = samplesMs.clone();
        Arrays.sort(s);
        double sum = 0;
        for (double x : s) {
            if (Double.isNaN(x) || Double.isInfinite(x)) {
                throw new IllegalArgumentException("samples must be finite");
            }
            sum += x;
        }
        Map<String, Object> m = new LinkedHashMap<String, Object>();
        m.put("p10", percentile(s, 10));
        m.put("p50", percentile(s, 50));
        m.put("p90", percentile(s, 90));
        m.put("p99", percentile(s, 99));
        m.put("mean", sum / s.length);
        m.put("min", s[0]);
        m.put("max", s[s.length - 1]);
        m.put("iqr", percentile(s, 75) - percentile(s, 25));
        m.put("n", s.length);
        return m;
    }
}
