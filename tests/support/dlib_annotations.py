"""Reader for dlib's imglab XML files with 68-point face annotations."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class AnnotatedFace:
    image: Path
    box: np.ndarray  # (4,) x1, y1, x2, y2
    landmarks: np.ndarray  # (68, 2)


def load_annotations(folder: Path) -> list[AnnotatedFace]:
    faces = []
    for xml_file in sorted(folder.glob("*.xml")):
        for image in ET.parse(xml_file).getroot().iter("image"):
            for box in image.iter("box"):
                left, top = float(box.get("left")), float(box.get("top"))
                w, h = float(box.get("width")), float(box.get("height"))
                parts = sorted(box.iter("part"), key=lambda p: int(p.get("name")))
                pts = np.array([[float(p.get("x")), float(p.get("y"))] for p in parts])
                assert pts.shape == (68, 2), f"{xml_file}: face without 68 points"
                faces.append(AnnotatedFace(folder / image.get("file"),
                                           np.array([left, top, left + w, top + h]), pts))
    return faces


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)
