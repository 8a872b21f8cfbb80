"""CUDA sources and their CuPy launchers; imported only when the CuPy backend is active.

``sources`` holds plain CUDA C++ strings (no CuPy import), so a CPU-only test can compile them to
PTX with NVRTC and catch a source that does not build. The launcher modules import CuPy lazily.
"""
