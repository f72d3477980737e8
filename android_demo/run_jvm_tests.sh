#!/usr/bin/env bash
# Compile the app's platform-independent Java (tokenizer, classifier maths, benchmark statistics)
# with its JUnit 5 tests and run them on the desktop JVM with Debian's junit5 console launcher.
#
#   android_demo/run_jvm_tests.sh [BUILD_DIR] [-- extra java -D options]
#
# System properties the tests read (all optional; tests needing an absent one are skipped):
#   -Dalbertedge.official.spm=PATH              official albert-base-v2 spiece.model (../shared)
#   -Dalbertedge.golden.sst2dev.official=PATH   golden ids of SST-2 dev for it (make_golden.py sst2-dev)
#   -Dalbertedge.golden.sst2dev.own=PATH        the same for the committed self-trained 8k model
#   -Dalbertedge.interop.dir=DIR                where to write stats/benchmark JSON for pytest to check
# Environment: JUNIT_REPORTS=DIR writes JUnit XML there; JUNIT_SELECT replaces --scan-class-path.
#
# Android-only classes (activities, the LiteRT backend) are left out: they need android.jar and
# the LiteRT runtime, which only exist on a device. Exit status is the launcher's (0 = all passed).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
BUILD="${1:-$HERE/build/jvm-tests}"
shift || true
[[ "${1:-}" == "--" ]] && shift

JUNIT=/usr/share/java/junit-platform-console-standalone.jar
if [[ ! -f "$JUNIT" ]]; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        # One apt at a time: `make test` runs two workers, and build_apk.sh / the arm64 check may install
        # too (same lock file as albert_edge/arm64/provision.py); DPkg::Lock::Timeout waits for any other apt.
        ( flock -w 1200 9 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 junit5 >/dev/null ) 9>/tmp/albert-edge-apt.lock
    fi
    [[ -f "$JUNIT" ]] || { echo "junit5 console launcher missing: apt-get install junit5" >&2; exit 3; }
fi
command -v javac >/dev/null || { echo "javac missing: apt-get install default-jdk-headless" >&2; exit 3; }

SRC="$HERE/app/src/main/java"
TEST="$HERE/app/src/test/java"
rm -rf "$BUILD"
mkdir -p "$BUILD/main" "$BUILD/test"
# The pure-Java part of the app: everything that does not import android.*, org.json.* (Android's
# JSON) or org.tensorflow.*.
mapfile -t MAIN < <(grep -L -E '^import (android|org\.tensorflow|org\.json)\.' $(find "$SRC" -name '*.java') | sort)
# --release 8: the same language level and class library surface as the APK build.
javac --release 8 -encoding UTF-8 -Xlint:all -Werror -d "$BUILD/main" "${MAIN[@]}"
javac -encoding UTF-8 -d "$BUILD/test" -cp "$BUILD/main:$JUNIT" $(find "$TEST" -name '*.java')
# JUNIT_SELECT (e.g. "--select-method pkg.Class#method") narrows the run; default: every test class.
read -r -a SELECT <<< "${JUNIT_SELECT:---scan-class-path $BUILD/test}"
exec java -Xss16m "$@" -jar "$JUNIT" \
    --class-path "$BUILD/main:$BUILD/test:$HERE/app/src/test/resources" \
    "${SELECT[@]}" ${JUNIT_REPORTS:+--reports-dir "$JUNIT_REPORTS"} \
    --disable-banner --disable-ansi-colors --fail-if-no-tests --details=tree --details-theme=ascii
