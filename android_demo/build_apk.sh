#!/usr/bin/env bash
# Offline build of the demo APK with Debian's Android tools (no Android SDK, no Gradle):
#   javac (against android.jar API 23) -> dx -> aapt2 link -> zipalign -> apksigner (debug key),
# then the checks: apksigner verify, aapt2 dump badging, zipalign -c, no invoke-custom in the dex,
# the LiteRT stub not packaged, the model stored uncompressed.
#
#   android_demo/build_apk.sh [--artifacts DIR] [--out APK] [--build-dir DIR] [--cache-dir DIR]
#
# --artifacts: an albert-edge artifacts folder with manifest.json, model.int8.tflite, spiece.model.
# Default: export models/albert-sst2-demo (or, while it does not exist, a tiny random ALBERT) with
# `albert-edge export tflite` + `quantize tflite` into android_demo/build/artifacts.
# --build-dir (default android_demo/build, git-ignored) holds everything built; --cache-dir (default
# ~/.cache/albert-edge/android) the verified Debian downloads and the debug keystore.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
BUILD="$HERE/build"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/albert-edge/android"
ARTIFACTS=""
OUT=""
PACKAGE=dev.albertedge.demo
MIN_SDK=24      # LiteRT 2.3.0's AARs declare minSdk 24; the same value as app/build.gradle
TARGET_SDK=34
VERSION_CODE=1
VERSION_NAME=0.1.0

while [[ $# -gt 0 ]]; do
    case "$1" in
        --artifacts) ARTIFACTS="$(cd "$2" && pwd)"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        --build-dir) BUILD="$2"; shift 2 ;;
        --cache-dir) CACHE="$2"; shift 2 ;;
        -h|--help) sed -n 2,12p "$0"; exit 0 ;;
        *) echo "build_apk.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

mkdir -p "$BUILD"
BUILD="$(cd "$BUILD" && pwd)"
OUT="${OUT:-$BUILD/albert-edge-demo.apk}"

say() { printf '[apk] %s\n' "$*"; }
die() { printf 'build_apk.sh: error: %s\n' "$*" >&2; exit 1; }

# ---- tools -------------------------------------------------------------------------------------
# Debian bookworm packages: aapt (aapt2), zipalign, apksigner, dexdump; JDK for javac/keytool.
need_pkgs=()
for pair in aapt2:aapt zipalign:zipalign apksigner:apksigner dexdump:dexdump javac:default-jdk-headless keytool:default-jdk-headless zip:zip unzip:unzip curl:curl; do
    command -v "${pair%%:*}" >/dev/null || need_pkgs+=("${pair##*:}")
done
if [[ ${#need_pkgs[@]} -gt 0 ]]; then
    [[ $(id -u) -eq 0 ]] || die "missing tools; run: sudo apt-get install ${need_pkgs[*]}"
    say "installing ${need_pkgs[*]} (apt)"
    # One apt at a time: `make test` runs two workers (lock shared with run_jvm_tests.sh and
    # albert_edge/arm64/provision.py); DPkg::Lock::Timeout waits for any other apt on the machine.
    ( flock -w 1200 9 && apt-get update -qq -o DPkg::Lock::Timeout=600 \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${need_pkgs[@]}" >/dev/null ) 9>/tmp/albert-edge-apt.lock \
        || die "apt-get install ${need_pkgs[*]} failed"
fi

# android.jar (API 23) and the dx dexer are not in bookworm; bullseye's pool on the same mirror has
# them. Pinned by full sha256 (checked against the values published for these versions).
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
ANDROID_DEB=pool/main/a/android-framework-23/libandroid-23-java_6.0.1+r72-6_all.deb
ANDROID_SHA=8af1b6df556971dda0a6da3536ea526a838e0c363afcdd454213d8bce94793e3
DX_DEB=pool/main/a/android-platform-dalvik/dalvik-exchange_10.0.0+r36-1_all.deb
DX_SHA=8fc128db7c27253d963eb9b33de79b197162a4749d2ba69019b2fd0664cbd7fe

fetch_deb() {  # pool path, sha256 -> extracted under $CACHE/<name>/
    local path="$1" sha="$2" name deb
    name="$(basename "$path" .deb)"
    deb="$CACHE/$name.deb"
    if [[ ! -f "$deb" ]] || ! echo "$sha  $deb" | sha256sum -c --status; then
        say "downloading $name.deb"
        mkdir -p "$CACHE"
        curl -fsSL --retry 3 -o "$deb.part" "$MIRROR/$path" || die "cannot download $MIRROR/$path"
        echo "$sha  $deb.part" | sha256sum -c --status || { rm -f "$deb.part"; die "sha256 mismatch for $name.deb"; }
        mv "$deb.part" "$deb"
    fi
    if [[ ! -d "$CACHE/$name" ]]; then
        dpkg-deb -x "$deb" "$CACHE/$name.tmp" && mv "$CACHE/$name.tmp" "$CACHE/$name"
    fi
}
fetch_deb "$ANDROID_DEB" "$ANDROID_SHA"
fetch_deb "$DX_DEB" "$DX_SHA"
ANDROID_JAR="$CACHE/libandroid-23-java_6.0.1+r72-6_all/usr/share/java/com.android.android-23.jar"
DX_JAR="$CACHE/dalvik-exchange_10.0.0+r36-1_all/usr/share/java/com.android.dx-10.0.0.jar"
[[ -f "$ANDROID_JAR" && -f "$DX_JAR" ]] || die "android.jar or dx jar missing after extraction"

# ---- artifacts ---------------------------------------------------------------------------------
if [[ -z "$ARTIFACTS" ]]; then
    ARTIFACTS="$BUILD/artifacts"
    CLI="$ROOT/.venv/bin/albert-edge"
    PY="$ROOT/.venv/bin/python"
    [[ -x "$CLI" ]] || die "$CLI missing; run 'make env' first (or pass --artifacts DIR)"
    MODEL="$ROOT/models/albert-sst2-demo"
    if [[ ! -f "$MODEL/config.json" ]]; then
        MODEL="$BUILD/tiny-model"
        if [[ ! -f "$MODEL/config.json" ]]; then
            say "models/albert-sst2-demo not found; building a tiny random ALBERT in $MODEL"
            "$PY" -c "import sys
from albert_edge.testing import make_checkpoint, tokenizer_source
make_checkpoint(sys.argv[1], tokenizer_source(sys.argv[2]), id2label={0: 'negative', 1: 'positive'})" "$MODEL" "$BUILD/tiny-spm"
        fi
    fi
    # Re-export when the checkpoint's weights changed since the last build.
    STAMP="$ARTIFACTS/.source"
    SRC_ID="$MODEL $(find "$MODEL" -maxdepth 1 \( -name '*.safetensors' -o -name '*.bin' \) -exec sha256sum {} + | sha256sum | cut -c1-16)"
    if [[ ! -f "$ARTIFACTS/model.int8.tflite" || "$(cat "$STAMP" 2>/dev/null)" != "$SRC_ID" ]]; then
        say "exporting $MODEL -> $ARTIFACTS (TFLite fp32, then int8 dynamic)"
        rm -rf "$ARTIFACTS"
        "$CLI" export tflite --model "$MODEL" "$ARTIFACTS" --overwrite
        "$CLI" quantize tflite "$ARTIFACTS" --mode dynamic --overwrite
        echo "$SRC_ID" > "$STAMP"
    fi
fi
for f in manifest.json model.int8.tflite spiece.model; do
    [[ -f "$ARTIFACTS/$f" ]] || die "$ARTIFACTS has no $f (need an artifacts folder with a quantized TFLite model)"
done
# The app's tokenizer lower-cases, strips accents (ALBERT's official normalization) and keeps a long
# text's first tokens; a model whose tokenizer does otherwise would be fed other ids than it was trained on.
TOKENIZER_PROBLEM=$("${PY:-$ROOT/.venv/bin/python}" -c '
import sys
from albert_edge.tokenizer import app_tokenizer_problem, load_tokenizer
try:
    print(app_tokenizer_problem(load_tokenizer(sys.argv[1])) or "")
except Exception as e:
    print(f"cannot be loaded: {e}")' "$ARTIFACTS") || die "cannot check the tokenizer in $ARTIFACTS (see above)"
[[ -z "$TOKENIZER_PROBLEM" ]] || die "the tokenizer in $ARTIFACTS $TOKENIZER_PROBLEM"

# ---- compile, dex, link, align, sign -----------------------------------------------------------
W="$BUILD/apk-work"
rm -rf "$W"
mkdir -p "$W/assets" "$W/gen" "$W/classes" "$W/stub-classes" "$W/res-flat" "$W/dex"
for f in manifest.json model.int8.tflite spiece.model; do cp "$ARTIFACTS/$f" "$W/assets/$f"; done
# The bundled bytes must be the ones the manifest describes (sha256), whoever made the folder.
"${PY:-$ROOT/.venv/bin/python}" -m albert_edge.cli check --quiet "$W/assets" model.int8.tflite spiece.model \
    || die "the artifacts in $ARTIFACTS do not match their manifest; re-export them"

say "aapt2: compiling resources, generating R.java"
sed "s|<manifest xmlns:android=\"http://schemas.android.com/apk/res/android\">|<manifest xmlns:android=\"http://schemas.android.com/apk/res/android\" package=\"$PACKAGE\">|" \
    "$HERE/app/src/main/AndroidManifest.xml" > "$W/AndroidManifest.xml"
grep -q "package=\"$PACKAGE\"" "$W/AndroidManifest.xml" || die "could not set the package in AndroidManifest.xml"
aapt2 compile --dir "$HERE/app/src/main/res" -o "$W/res-flat/res.zip"
# --debug-mode marks the app debuggable, as a Gradle debug build is: `adb shell run-as` (how
# `albert-edge bench --android --tool app` reads the result file) works only for debuggable apps.
aapt2 link -o "$W/linked.apk" -I "$ANDROID_JAR" --manifest "$W/AndroidManifest.xml" \
    --min-sdk-version "$MIN_SDK" --target-sdk-version "$TARGET_SDK" \
    --version-code "$VERSION_CODE" --version-name "$VERSION_NAME" \
    --debug-mode \
    --java "$W/gen" "$W/res-flat/res.zip"

say "javac (Java 8 bytecode against android.jar API 23; LiteRT from the compile-only stub)"
javac -nowarn -source 8 -target 8 -encoding UTF-8 -bootclasspath "$ANDROID_JAR" -d "$W/stub-classes" \
    $(find "$HERE/stubs" -name '*.java') 2>&1 | grep -v 'bootstrap classpath\|^warning\|^1 warning\|^[0-9]* warnings' || true
javac -source 8 -target 8 -encoding UTF-8 -Xlint:-options -bootclasspath "$ANDROID_JAR" -cp "$W/stub-classes" \
    -d "$W/classes" $(find "$HERE/app/src/main/java" "$W/gen" -name '*.java')

say "dx -> classes.dex"
java -jar "$DX_JAR" --dex --min-sdk-version="$MIN_SDK" --output="$W/dex/classes.dex" "$W/classes"
cp "$W/linked.apk" "$W/unsigned.apk"
(cd "$W/dex" && zip -q -X "$W/unsigned.apk" classes.dex)
# Assets are added here rather than with aapt2 -A: this aapt2 (10.0.0) ignores -0 for assets, and the
# model must be STORED (uncompressed) so the app can memory-map it straight from the APK.
(cd "$W" && zip -q -X -0 unsigned.apk assets/model.int8.tflite && zip -q -X -9 unsigned.apk assets/manifest.json assets/spiece.model)
zipalign -f -p 4 "$W/unsigned.apk" "$W/aligned.apk"

KEYSTORE="$CACHE/debug.keystore"
if [[ ! -f "$KEYSTORE" ]]; then
    say "creating the debug keystore"
    keytool -genkeypair -keystore "$KEYSTORE" -storepass android -keypass android -alias androiddebugkey \
        -keyalg RSA -keysize 2048 -validity 10000 -dname "CN=Android Debug,O=Android,C=US" >/dev/null 2>&1
fi
mkdir -p "$(dirname "$OUT")"
apksigner sign --ks "$KEYSTORE" --ks-pass pass:android --key-pass pass:android --ks-key-alias androiddebugkey \
    --out "$OUT.tmp" "$W/aligned.apk"
rm -f "$OUT.tmp.idsig"
mv "$OUT.tmp" "$OUT"

# ---- checks ------------------------------------------------------------------------------------
say "checks"
apksigner verify --verbose "$OUT" > "$W/verify.txt" || die "apksigner verify failed"
zipalign -c -p 4 "$OUT" || die "zipalign -c failed"
aapt2 dump badging "$OUT" > "$W/badging.txt" || die "aapt2 dump badging failed"
grep -q "^package: name='$PACKAGE'" "$W/badging.txt" || die "badging: wrong package"
grep -q "^launchable-activity: name='$PACKAGE.MainActivity'" "$W/badging.txt" || die "badging: no launchable activity"
grep -q "^sdkVersion:'$MIN_SDK'" "$W/badging.txt" || die "badging: minSdk is not $MIN_SDK"
grep -q "^application-debuggable" "$W/badging.txt" || die "badging: the debug APK is not debuggable"
dexdump -d "$W/dex/classes.dex" > "$W/dexdump.txt" 2>/dev/null || die "dexdump failed"
if grep -q "invoke-custom" "$W/dexdump.txt"; then die "dex contains invoke-custom (lambdas need minSdk 26)"; fi
if grep -q "Lorg/tensorflow/lite/Interpreter;" <(dexdump "$W/dex/classes.dex" | grep "Class descriptor"); then
    die "the LiteRT compile stub was packaged"
fi
unzip -v "$OUT" | awk '$NF ~ /^assets\/model\.int8\.tflite$/ {print $2}' | grep -qx Stored || die "the model asset is compressed"

{
    echo "apk: $OUT"
    echo "bytes: $(stat -c %s "$OUT")"
    echo "sha256: $(sha256sum "$OUT" | cut -d' ' -f1)"
    grep -E "^(package|sdkVersion|targetSdkVersion|launchable-activity|application-label):|^application-debuggable" "$W/badging.txt"
    grep -E "^Verified using|^Verifies" "$W/verify.txt"
    echo "dex classes: $(dexdump "$W/dex/classes.dex" 2>/dev/null | grep -c 'Class descriptor')"
    echo "invoke-custom: none"
    unzip -v "$OUT" | awk '$NF ~ /^(assets\/|classes\.dex)/ {print "entry: " $NF " " $2 " " $1}'
} > "$BUILD/apk-report.txt"
cat "$BUILD/apk-report.txt"
say "OK: $OUT"
