"""Names and units shared by the Android benchmark paths."""

DEVICE_DIR = "/data/local/tmp/albert-edge"
APP_PACKAGE = "dev.albertedge.demo"
APP_ACTIVITY = ".MainActivity"
APP_LOG_TAG = "AlbertEdge"
MIB = 1 << 20
TOOL_NAMES = {"benchmark_model": "albert-edge bench --android (benchmark_model)", "app": "albert-edge bench --android (app)"}


# -- transport -------------------------------------------------------------------------------------
