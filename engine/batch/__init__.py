"""`tracker-app batch`: many inputs, one output folder each, a dataset index, resumable.

* ``inputs``: INPUT arguments (files, folders, list files, globs) -> ``BatchInput``;
* ``index``: completion markers, the journal of finished inputs and ``index.csv`` / ``index.parquet``;
* ``task``: the per-input task (one ``engine.session.run_session`` per input);
* ``local_pool`` / ``ray_engine``: where the tasks run, behind ``engine.BatchEngine``;
* ``runner``: planning (inputs that cannot start are recorded up front), the journal, the index
  and the summary, the same for both engines, under the dataset folder's lock (engine.out_lock).
"""
