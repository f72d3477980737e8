package dev.albertedge.demo;

import java.util.LinkedHashMap;
import java.util.Map;
import org.json.JSONArray;
import org.json.JSONException;
import org.json.JSONObject;

/** Reads the artifacts folder's manifest.json (written by the albert-edge export) into a ModelSpec. */
final class ManifestReader {
    private ManifestReader() {}

    static ModelSpec read(String json, String artifactFile) throws JSONException {
        JSONObject m = new JSONObject(json);
        if (m.optInt("format_version", -1) != 1) {
            throw new IllegalArgumentException("manifest.json is not an albert-edge manifest (format_version 1)");
        }
        JSONArray labelsJson = m.getJSONArray("labels");
        String[] labels = new String[labelsJson.length()];
        for (int i = 0; i < labels.length; i++) {
            labels[i] = labelsJson.getString(i);
        }
        JSONObject entry = null;
        JSONArray arts = m.getJSONArray("artifacts");
        for (int i = 0; i < arts.length(); i++) {
            if (artifactFile.equals(arts.getJSONObject(i).getString("file"))) {
                entry = arts.getJSONObject(i);
            }
        }
        if (entry == null) {
            throw new IllegalArgumentException("manifest.json lists no artifact " + artifactFile);
        }
        JSONArray sigs = entry.getJSONArray("signatures");
        int[] buckets = new int[sigs.length()];
        String[] keys = new String[sigs.length()];
        // The export writes signatures in ascending order; ModelSpec rejects anything else.
        for (int i = 0; i < sigs.length(); i++) {
            buckets[i] = sigs.getJSONObject(i).getInt("seq_len");
            keys[i] = sigs.getJSONObject(i).getString("key");
        }
        Map<String, Long> model = new LinkedHashMap<String, Long>();
        JSONObject mj = m.getJSONObject("model");
        String[] fields = {"hidden_size", "embedding_size", "num_hidden_layers", "num_attention_heads",
            "intermediate_size", "vocab_size", "unique_parameters"};
        for (String f : fields) {
            if (mj.has(f)) {
                model.put(f, mj.getLong(f));
            }
        }
        JSONObject tok = m.getJSONObject("tokenizer");
        return new ModelSpec(labels, m.getInt("max_seq_length"), buckets, keys, artifactFile,
                entry.getString("precision"), entry.getLong("bytes"), entry.optString("sha256", ""), model,
                // Required: the ids come from the manifest (the export wrote them), never assumed.
                tok.getInt("cls_id"), tok.getInt("sep_id"), tok.getInt("pad_id"));
    }
}
