#include "rasterize.h"

int rc_api_version(void) { return 1; }
