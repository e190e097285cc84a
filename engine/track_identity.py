"""Who each track is: confirmation gives a track a person, embeddings recognise them.

    identities = TrackIdentities(config, embeddings, new_segment)
    identities.update(image, frame, tracks, result)   # once per tracker step, after tracking

A track (``engine.tracks``) is given a person (``person_id``) when it is confirmed.
With an embedding queue (``engine.reid``), its best view so far is embedded and
compared with the people seen in the last ``return_frames`` who are not on screen; the
nearest within ``reid_same_person`` is that person, else a new one. Views are embedded
again when markedly better and every ``reid_every`` frames while the person's gallery
fills. A track whose first views were too poor to recognise (a profile, a tiny face) is
recognised later, when a good view comes. Without a queue every track is a person.

Recognising someone can end tracks: a hidden (coasting) person recognised on a new
track has come back as it, and a new track recognised as the person of an overlapping
track in view is that face followed twice; both leave the tracker's list here.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from engine.config import TrackerConfig
from engine.face_check import box_iou
from engine.face_embedder import chip_quality, view_quality
from engine.reid import EmbeddingQueue, EmbeddingRequest, PersonRegistry
from engine.roi import box_from_landmarks
from engine.tracks import Track, TrackState, TrackStep


class TrackIdentities:
    """The people of one tracker's tracks: their registry and what is sent to be embedded.

    ``new_segment`` numbers a new stretch of frames; the tracker owns that count (a track
    that takes over a merged one's face starts a new stretch)."""

    def __init__(self, config: TrackerConfig, embeddings: EmbeddingQueue | None,
                 new_segment: Callable[[], int]) -> None:
        self.config = config
        self.embeddings = embeddings
        self._new_segment = new_segment
        self.people = PersonRegistry(config)
        self._stream = 0  # one per reset: embeddings asked for before it are ignored

    def reset(self) -> None:
        """Forget all people (a new video); person IDs start again at 1."""
        self.people = PersonRegistry(self.config)
        self._stream += 1

    def update(self, image: np.ndarray, frame: int, tracks: list[Track], result: TrackStep) -> None:
        """Confirm the tentative tracks due (``Track.due_for_confirmation``), give each
        a person (new until an embedding recognises someone), keep the people's galleries
        growing, and note who is seen. ``tracks`` is the tracker's own list: tracks that
        recognition ends leave it here, at once, so the next embedding of this frame
        does not meet them."""
        self._confirm_and_identify(image, frame, tracks, result)
        for track in tracks:
            if track.visible and track.person_id:
                self.people.note_seen(track.person_id, frame)
        if frame % max(1, self.config.return_frames) == 0:
            self.people.forget(before=frame - self.config.return_frames, keep={t.person_id for t in tracks})

    def _confirm_and_identify(self, image: np.ndarray, frame: int, tracks: list[Track], result: TrackStep) -> None:
        requests: list[EmbeddingRequest] = []
        for track in [t for t in tracks if t.last_seen == frame]:
            request = self._view_to_embed(image, frame, track)
            if track.due_for_confirmation(self.config):
                track.state = TrackState.CONFIRMED
                result.confirmed.append(track.track_id)
                track.person_id = self.people.new_person(frame)
                track.person_settled = self.embeddings is None  # without embeddings, every track is a person
                request = self._best_view_request(frame, track)
            if request is not None:
                requests.append(request)
        if self.embeddings is None:
            return
        self.embeddings.submit(requests)
        for done in self.embeddings.collect():
            if done.stream != self._stream:
                continue  # asked for before a reset: its track ID now names another face
            found = next((t for t in tracks if t.track_id == done.track_id), None)
            if found is not None and found.person_id:
                self._identify(found, done.embedding, done.quality, frame, tracks, result)

    def _view_to_embed(self, image: np.ndarray, frame: int, track: Track) -> EmbeddingRequest | None:
        """A tentative track remembers its best view; a confirmed one asks for an embedding
        of this view when it is wanted (``_wants_view``)."""
        if self.embeddings is None:
            return None
        since = frame - track.last_embedded
        if track.state is not TrackState.TENTATIVE and (since < self.config.reid_min_gap
                                                        or since % self.config.reid_min_gap):
            return None  # views are weighed every reid_min_gap frames: spare the measure in between
        quality = view_quality(track.landmarks)
        if quality < self.config.reid_min_quality:
            return None
        if track.state is TrackState.TENTATIVE:
            if track.best_view is None or quality > track.best_view[0]:
                track.best_view = (quality, self.embeddings.chips(image, [track.landmarks])[0], track.landmarks)
            return None
        if not self._wants_view(frame, track, quality):
            return None
        chip = self.embeddings.chips(image, [track.landmarks])[0]
        track.embedded_quality = max(track.embedded_quality, quality)
        track.last_embedded = frame
        return EmbeddingRequest(self._stream, track.track_id, chip_quality(chip, track.landmarks).score, chip)

    def _best_view_request(self, frame: int, track: Track) -> EmbeddingRequest | None:
        """At confirmation: the best view the track had while tentative (None: no view good
        enough yet; the person stays undecided until one comes)."""
        if track.best_view is None:
            return None
        quality, chip, landmarks = track.best_view
        track.best_view = None
        track.embedded_quality, track.last_embedded = quality, frame
        return EmbeddingRequest(self._stream, track.track_id, chip_quality(chip, landmarks).score, chip)

    def _wants_view(self, frame: int, track: Track, quality: float) -> bool:
        """A markedly better view is worth embedding (at most every ``reid_min_gap``
        frames); so is any view every ``reid_every`` frames while the gallery fills."""
        cfg = self.config
        gallery = self.people.people.get(track.person_id)
        filling = gallery is None or len(gallery.exemplars) < cfg.reid_gallery_size
        since = frame - track.last_embedded
        if quality > track.embedded_quality * cfg.reid_better_view and since >= cfg.reid_min_gap:
            return True
        return filling and since >= cfg.reid_every

    def _identify(self, track: Track, embedding: np.ndarray, quality: float, frame: int, tracks: list[Track],
                  result: TrackStep) -> None:
        """An embedding of the track's face arrived: recognise the person if not yet done,
        and keep the view in their gallery."""
        if not track.person_settled:
            twin = self._twin_in_view(track, embedding, tracks)
            if twin is not None:
                self._merge_into(twin, track, tracks, result)
                return
            # People in view now are someone else; a hidden (coasting) person may be back.
            in_view = {t.person_id for t in tracks if t is not track and t.visible}
            match = self.people.best_match(embedding, frame, exclude=in_view | {track.person_id})
            if match is not None:
                for hidden in [t for t in tracks if not t.visible and t.person_id == match[0]]:
                    result.note_end(hidden, "returned")  # they came back as this track
                    tracks.remove(hidden)
                # The older ID stays: its rows are already out (people.csv maps the other).
                keep, drop = sorted((match[0], track.person_id))
                self.people.merge(keep=keep, drop=drop)
                track.person_id = keep
                result.reidentified.append(track.track_id)
            # Matched or not, the person is decided by the first view good enough to embed
            # (later views only grow the gallery): a late change of mind would relabel a
            # person whose rows are already out.
            track.person_settled = True
        self.people.add_exemplar(track.person_id, embedding, quality)

    def _twin_in_view(self, track: Track, embedding: np.ndarray, tracks: list[Track]) -> Track | None:
        """A track in view whose face overlaps this one and whose person this face is: the
        same face followed twice (one of them drifted, to the chin of a face looking down,
        so the two no longer overlap enough to be duplicates)."""
        box = box_from_landmarks(track.landmarks)
        for other in tracks:
            if (other is not track and other.visible and other.person_id and other.person_id != track.person_id
                    and box_iou(box, box_from_landmarks(other.landmarks)) > 0
                    and self.people.distance(other.person_id, embedding) <= self.config.reid_same_person):
                return other
        return None

    def _merge_into(self, older: Track, newer: Track, tracks: list[Track], result: TrackStep) -> None:
        """Two tracks on one face merge into the older ID; the newer one's face, found by a
        fresh detection, is the better place, so the older track moves there."""
        older.params, older.roi, older.landmarks, older.score = newer.params, newer.roi, newer.landmarks, newer.score
        older.motion, older.clean = newer.motion, newer.clean
        older.segment = self._new_segment()
        self.people.merge(keep=older.person_id, drop=newer.person_id)
        tracks.remove(newer)
        result.merged[newer.track_id] = older.track_id
