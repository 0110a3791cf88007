"""The course machinery: grading, its sandbox, release and reports. Learners never import it.

- ``harness``: calls between the trusted kernel and the learner's sandboxed kernel, as data;
- ``sandbox``: the learner's kernel in bubblewrap, prlimit and a cgroup, and its threat model;
- ``autograde``: the nbgrader preprocessor that runs a notebook in those two kernels;
- ``grading``: what the exercises' test cells use to compare outputs and name mistakes;
- ``course``, ``release``, ``grade``, ``report``: ``make release`` and ``make grade``.

rnnlib never imports this package.
"""
