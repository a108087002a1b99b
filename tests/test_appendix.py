"""The code appendix (book/appendix_code.md): every snippet resolves in the live source, says what it
shows, and the snippets the exercises ask for (EXERCISES.md section 11, exercise 0 part C) are there."""
import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "appendix_code.md"
INCLUDE = re.compile(r"```\{literalinclude\} \.\./(?P<file>\S+)\n(?P<options>(?::[^\n]*\n)*)```")

# What the exercises ask the appendix to show, as (file, pyobject).
REQUIRED = {
    ("src/probgen/vae/model.py", "VAE.elbo_terms"),            # the ELBO with a non-Gaussian prior
    ("src/probgen/vae/priors.py", "AffineCoupling"),           # the central parts of the flow
    ("src/probgen/vae/priors.py", "FlowPrior.log_prob"),
    ("src/probgen/diffusion/ddpm.py", "DDPM.loss"),            # the DDPM loss
    ("src/probgen/diffusion/ddpm.py", "DDPM.sample"),          # the DDPM sampling loop
    ("src/probgen/diffusion/ddpm.py", "DDPM.elbo_terms"),
    ("src/probgen/diffusion/latent_study.py", "train_latent_ddpm"),  # latent DDPM training step
    ("src/probgen/diffusion/latent.py", "LatentDDPM.sample_latents"),  # latent DDPM sampling step
    ("src/probgen/diffusion/latent.py", "LatentDDPM.decode"),
}


def _includes():
    text = PAGE.read_text()
    out = []
    for m in INCLUDE.finditer(text):
        options = dict(re.findall(r":(\w+): (.*)", m["options"]))
        out.append((m["file"], options.get("pyobject"), m.start(), text))
    return out


def _find(tree: ast.AST, dotted: str):
    node = tree
    for name in dotted.split("."):
        children = [n for n in ast.iter_child_nodes(node)
                    if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.name == name]
        if not children:
            return None
        node = children[0]
    return node


def test_the_page_has_snippets():
    assert len(_includes()) >= len(REQUIRED)


@pytest.mark.parametrize("file,pyobject", sorted({(f, o) for f, o, _, _ in _includes()}))
def test_each_snippet_resolves_in_the_live_source(file, pyobject):
    path = ROOT / file
    assert path.is_file(), f"{file} does not exist"
    assert pyobject, f"the include of {file} has no :pyobject: (a line range would go stale)"
    assert _find(ast.parse(path.read_text()), pyobject) is not None, f"{pyobject} is not defined in {file}"


def test_the_snippets_the_exercises_ask_for_are_there():
    present = {(f, o) for f, o, _, _ in _includes()}
    assert REQUIRED - present == set()


def test_each_snippet_is_introduced_by_a_sentence():
    # Between the previous heading (or include) and the include there must be prose that ends a sentence.
    for file, pyobject, start, text in _includes():
        before = text[:start]
        cut = max(before.rfind("\n#"), before.rfind("```\n"))
        prose = " ".join(line for line in before[cut:].splitlines()[1:] if line.strip())
        if prose == "" and before.rstrip().endswith("```"):
            continue  # a second include right after the first, under the same sentence
        assert re.search(r"[.)]\s*$", prose), f"{pyobject} in {file} has no sentence saying what it shows"
