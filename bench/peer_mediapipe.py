"""MediaPipe FaceMesh over every frame of a video (run by bench/peer_mediapipe.sh in its
own virtualenv). Prints frames, faces found and wall seconds; the caller measures CPU
and peak RSS of the whole process."""
from __future__ import annotations

import sys
import time


def main(argv: list[str]) -> int:
    import cv2
    import mediapipe as mp

    if len(argv) != 1:
        print("usage: peer_mediapipe.py VIDEO", file=sys.stderr)
        return 2
    t = time.perf_counter()
    cap = cv2.VideoCapture(argv[0])
    frames = found = 0
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1,
                                         refine_landmarks=False) as mesh:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            result = mesh.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            frames += 1
            found += bool(result.multi_face_landmarks)
    cap.release()
    print(f"mediapipe facemesh: {frames} frames, a face in {found}, {time.perf_counter() - t:.2f} s")
    return 0 if frames else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
