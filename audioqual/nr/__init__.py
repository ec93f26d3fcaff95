"""No-reference multi-aspect MOS prediction: model assembly, strategy selection, scoring.

Modules: `model` (`NoReferenceModel`: a quality head from `audioqual.heads` + domain-adversarial
branches, save/load), `features` and `data` (head inputs), `selection` (best strategy per aspect,
`AspectRouter`), `scoring` (score files), `probe` (linear probing of h), `synthetic` (rated clips
with a planted source signature), `official_aesthetics` (Meta's released model as a model
directory); `registry` and `outputs` re-export the head interface from `audioqual.heads`.
Training configs and loops live in `audioqual.train`. Submodules are imported on use to keep
`import audioqual` light.
"""
