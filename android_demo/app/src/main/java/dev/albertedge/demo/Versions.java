package dev.albertedge.demo;

/** Versions reported in benchmark results; tests/test_android_apk.py checks LITERT against build.gradle. */
public final class Versions {
    private Versions() {}

    public static final String APP = "0.1.0";
    /** com.google.ai.edge.litert:litert as declared in app/build.gradle. */
    public static final String LITERT = "2.3.0";
}
