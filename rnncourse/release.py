"""`make release`: the student version of every assignment, and one zip each for an LMS.

    python exercises/tools/release.py [--db-url URL]

For each exercises/source/<name>/<name>.ipynb, `nbgrader generate_assignment` writes the student
version (no solution, no hidden test, no output) to exercises/release/<name>/ and records the
assignment in the gradebook, which grading needs; then exercises/release/<name>.zip holds the
folder <name>/ ready to upload.
"""
import argparse
import zipfile

import course


def zip_folder(folder, target):
    """A zip of `folder` with paths starting at its name; fixed timestamps, so the same files
    always give the same zip."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(str(path.relative_to(folder.parent)), date_time=(2026, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)


def release(root=course.COURSE, db=None):
    db = course.db_url(root, db)
    made = []
    for name in course.assignments(root):
        course.run_nbgrader(root, db, "generate_assignment", name, "--force")
        folder = root / "release" / name
        zip_folder(folder, root / "release" / f"{name}.zip")
        made.append(name)
        print(f"{name}: {folder / f'{name}.ipynb'} and {root / 'release' / f'{name}.zip'}")
    return made


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db-url", help="gradebook URL (default: $GRADEBOOK_URL or exercises/gradebook.db)")
    args = parser.parse_args(argv)
    release(db=args.db_url)


if __name__ == "__main__":
    main()
