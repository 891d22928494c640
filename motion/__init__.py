"""Motion data: clips (clip), DeepMimic .txt and ASE .npy import/export (deepmimic, ase_npy, dataset, io),
BVH import and retargeting onto a character (bvh, source, bone_map, retarget, retarget_report,
retarget_io, preview), sampling with forward kinematics (library, kinematics), the DeepMimic downloader
(download) and the `launch.py motions` command (cli)."""
