"""No-reference multi-aspect MOS prediction: model assembly, configs, strategy selection, scoring.

Modules: `config` (training configs), `registry` (quality heads by name), `model`
(`NoReferenceModel`: head + domain-adversarial branches, save/load), `features` and `data`
(head inputs), `selection` (best strategy per aspect, `AspectRouter`), `scoring` (score files),
`probe` (linear probing of h), `synthetic` (rated clips with a planted source signature).
Submodules are imported on use to keep `import audioqual` light.
"""
