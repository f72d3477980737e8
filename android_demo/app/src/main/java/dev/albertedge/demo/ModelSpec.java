package dev.albertedge.demo;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/** What the app needs from manifest.json: labels, buckets/signatures, the artifact and model shape. */
public final class ModelSpec {
    public final String[] labels;
    public final int maxSeqLength;
    /** Ascending sequence lengths; {@link #signatureKeys} holds the matching signature names. */
    public final int[] buckets;
    public final String[] signatureKeys;
    public final String artifactFile;
    public final String precision;
    public final long artifactBytes;
    public final String artifactSha256;
    /** Integer model facts (hidden_size, vocab_size, ...) copied into the benchmark JSON. */
    public final Map<String, Long> model;
    public final int clsId, sepId, padId;

    public ModelSpec(String[] labels, int maxSeqLength, int[] buckets, String[] signatureKeys, String artifactFile,
            String precision, long artifactBytes, String artifactSha256, Map<String, Long> model, int clsId, int sepId,
            int padId) {
        if (labels.length == 0) {
            throw new IllegalArgumentException("manifest has no labels");
        }
        if (buckets.length == 0 || buckets.length != signatureKeys.length) {
            throw new IllegalArgumentException("manifest artifact has no usable signatures");
        }
        for (int i = 1; i < buckets.length; i++) {
            if (buckets[i] <= buckets[i - 1]) {
                throw new IllegalArgumentException("signature buckets must be strictly ascending: " + Arrays.toString(buckets));
            }
        }
        this.labels = labels;
        this.maxSeqLength = maxSeqLength;
        this.buckets = buckets;
        this.signatureKeys = signatureKeys;
        this.artifactFile = artifactFile;
        this.precision = precision;
        this.artifactBytes = artifactBytes;
        this.artifactSha256 = artifactSha256;
        this.model = new LinkedHashMap<String, Long>(model);
        this.clsId = clsId;
        this.sepId = sepId;
        this.padId = padId;
    }

    public String signatureFor(int bucket) {
        for (int i = 0; i < buckets.length; i++) {
            if (buckets[i] == bucket) {
                return signatureKeys[i];
            }
        }
        throw new IllegalArgumentException("no signature for sequence length " + bucket);
    }
}
