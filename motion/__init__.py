"""Motion data: clips (clip), DeepMimic .txt and ASE .npy import/export (deepmimic, ase_npy, dataset, io),
sampling with forward kinematics (library, kinematics), the DeepMimic downloader (download) and the
`launch.py motions` command (cli)."""
