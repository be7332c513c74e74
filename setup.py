from setuptools import find_packages, setup

# A tested set: a bare `pip install recbole` resolves numpy 2 / pandas 3 / setuptools>=81, which break
# RecBole 1.2.1 (see README). torch is a lower bound only, so an installed CPU torch 2.13.0 is kept as is.
install_requires = [
    "torch>=2.6",
    "recbole==1.2.1",
    "ray==2.6.3",
    "numpy==1.26.4",
    "pandas==2.2.3",
    "setuptools>=77.0.3,<81",
    "scipy>=1.10,<1.18",
    "pyyaml>=6",
    "tqdm",
    "tensorboard",
]

setup(
    name="recbole-prorl",
    version="0.1.0",
    description="ProRL: proactive recommendation with rectified policy gradients, as a RecBole extension",
    packages=find_packages(include=["recbole_prorl", "recbole_prorl.*"]),
    python_requires=">=3.10",
    install_requires=install_requires,
    extras_require={"test": ["pytest>=7"]},
)
