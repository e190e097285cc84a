"""Runs inside Blender (``blender -b --factory-startup --python tests/blender_probe.py -- ARGS``).

Loads the animation exports with Blender's own importers and modifiers and dumps what
Blender made of them into an .npz for tests/test_animation_blender.py to judge; it
judges nothing itself. Blender coordinates (Z up) are written as they are.

    -- glb FILE.glb --fps 25 --frames 0,27,54 --out RESULT.npz
    -- pc2 BASE.obj FILE.pc2 --fps 25 --frames 0,27,54 --first 0 --out RESULT.npz
    -- render FILE.glb --fps 25 --frames 0,27,54 --out IMAGE.png   (IMAGE_0.png, ...)
"""
from __future__ import annotations

import argparse
import sys

import bpy
import numpy as np


def empty_scene(fps: int) -> bpy.types.Scene:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = fps, 1.0  # glTF seconds -> frames at the video's rate
    return scene


def import_glb(path: str) -> None:
    # Debian's Blender 3.4 importer breaks on NumPy >= 1.24 (np.bool) in its default
    # "NORMALS" shading mode; the glb has no normals, so "SMOOTH" loses nothing.
    bpy.ops.import_scene.gltf(filepath=path, import_shading="SMOOTH")


def mesh_objects() -> list[bpy.types.Object]:
    return [ob for ob in bpy.context.scene.objects if ob.type == "MESH"]


def evaluated(ob: bpy.types.Object, scene: bpy.types.Scene, frame: int) -> tuple[np.ndarray, np.ndarray]:
    """Local vertex positions (n, 3) after shape keys and modifiers, and the world matrix, at ``frame``."""
    scene.frame_set(frame)
    depsgraph = bpy.context.evaluated_depsgraph_get()
    ob_eval = ob.evaluated_get(depsgraph)
    mesh = ob_eval.to_mesh()
    co = np.empty(len(mesh.vertices) * 3, np.float64)
    mesh.vertices.foreach_get("co", co)
    matrix = np.array(ob_eval.matrix_world, np.float64)
    ob_eval.to_mesh_clear()
    return co.reshape(-1, 3), matrix


def action_summary(action: bpy.types.Action | None) -> tuple[list[float], int]:
    """(frame range, fewest keyframes of any curve) of an action."""
    if action is None:
        return [np.nan, np.nan], 0
    return list(action.frame_range), min(len(fc.keyframe_points) for fc in action.fcurves)


def probe_glb(args: argparse.Namespace) -> None:
    scene = empty_scene(args.fps)
    import_glb(args.files[0])
    (ob,) = mesh_objects()
    keys = ob.data.shape_keys
    shape_keys = [kb.name for kb in keys.key_blocks] if keys else []
    slider_max = max(kb.slider_max for kb in keys.key_blocks) if keys else np.nan
    object_range, object_keys = action_summary(ob.animation_data.action if ob.animation_data else None)
    key_anim = keys.animation_data if keys else None
    weights_range, weights_keys = action_summary(key_anim.action if key_anim else None)
    frames = [int(f) for f in args.frames.split(",")]
    local, world = zip(*(evaluated(ob, scene, f) for f in frames))
    key_values = []  # each shape key's weight as Blender's animation sets it, per probed frame
    for f in frames:
        scene.frame_set(f)
        key_values.append([kb.value for kb in keys.key_blocks] if keys else [])
    np.savez(args.out, vertices=len(ob.data.vertices), shape_keys=np.array(shape_keys), slider_max=slider_max,
             object_range=object_range, object_keys=object_keys, weights_range=weights_range,
             weights_keys=weights_keys, frames=frames, local=np.stack(local), world=np.stack(world),
             key_values=np.array(key_values))


def probe_pc2(args: argparse.Namespace) -> None:
    scene = empty_scene(args.fps)
    base_obj, pc2 = args.files
    bpy.ops.wm.obj_import(filepath=base_obj)  # defaults: forward -Z, up Y (the file is Y up)
    (ob,) = mesh_objects()
    cache = ob.modifiers.new("MeshCache", "MESH_CACHE")
    cache.cache_format = "PC2"
    cache.filepath = pc2
    cache.frame_start = args.first  # the track's first video frame plays the cache's first sample
    frames = [int(f) for f in args.frames.split(",")]
    local, world = zip(*(evaluated(ob, scene, f) for f in frames))
    np.savez(args.out, vertices=len(ob.data.vertices), frames=frames, local=np.stack(local), world=np.stack(world))


def render(args: argparse.Namespace) -> None:
    """Stills of the imported animation, one PNG per frame (OUT with _<frame> before .png):
    Workbench studio light, one fixed camera in front of the head that frames every one of them."""
    from mathutils import Vector

    scene = empty_scene(args.fps)
    import_glb(args.files[0])
    (ob,) = mesh_objects()
    for polygon in ob.data.polygons:
        polygon.use_smooth = True
    frames = [int(f) for f in args.frames.split(",")]
    corners = []
    for frame in frames:
        scene.frame_set(frame)
        ob_eval = ob.evaluated_get(bpy.context.evaluated_depsgraph_get())
        corners += [ob_eval.matrix_world @ Vector(c) for c in ob_eval.bound_box]
    centre = sum(corners, Vector()) / len(corners)
    size = max((c - centre).length for c in corners)
    camera = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
    camera.data.lens = 85
    scene.collection.objects.link(camera)
    distance = size * 4.0
    camera.location = centre + Vector((0.35 * distance, -distance, 0.12 * distance))  # front, a little right
    camera.rotation_euler = (centre - camera.location).to_track_quat("-Z", "Y").to_euler()
    scene.camera = camera
    scene.world = bpy.data.worlds.new("world")  # Workbench's grey backdrop
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.light = "STUDIO"
    scene.display.shading.show_cavity = True
    scene.render.resolution_x, scene.render.resolution_y = 300, 340
    settings = scene.render.image_settings
    settings.file_format, settings.color_mode, settings.compression = "PNG", "BW", 100
    for frame in frames:
        scene.frame_set(frame)
        scene.render.filepath = args.out.replace(".png", f"_{frame}.png")
        bpy.ops.render.render(write_still=True)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="blender_probe.py")
    parser.add_argument("mode", choices=("glb", "pc2", "render"))
    parser.add_argument("files", nargs="+")
    parser.add_argument("--fps", type=int, required=True)
    parser.add_argument("--frames", default="")
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    {"glb": probe_glb, "pc2": probe_pc2, "render": render}[args.mode](args)


if __name__ == "__main__":
    main(sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else [])
