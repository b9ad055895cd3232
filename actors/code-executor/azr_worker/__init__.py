"""The code-executor worker's modules (worker.py, beside this folder, is the entry point).

policy     what the sandbox refuses and the exit codes shared with Node (pool.ts)
static     checks that need Python's parser only: banned imports, literal arguments, arity,
           the exact-builtin-type check of results — pure functions, no task code runs
channel    the pipe protocol with the Node parent, kept out of the task's reach
guard      the in-process sandbox: resource limits and the PEP 578 audit hook
integrity  the snapshot of the worker's state and the check after every task
running    one task in this process (the task window) and the trusted imports before it
strict     one task in a forked child, killed on the wall clock
"""
