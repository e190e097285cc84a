/* CPU rasteriser for the dense face mesh. Skeleton: filled in by the renderer work. */
#ifndef RENDER_C_RASTERIZE_H
#define RENDER_C_RASTERIZE_H

/* Version of the C API, checked by the Python binding. */
int rc_api_version(void);

#endif
