"""grades.csv as an nbgrader export plugin:

    nbgrader export --exporter=rnncourse.export.GradesCsvExporter --to=grades.csv

A "long" CSV, one row per (student, assignment) for every student and every assignment of the
course in the gradebook: student,assignment,score,max_score,percent, sorted by student, then
assignment. A student with no submission for an assignment gets an empty score and percent (not
0), so missing work stays visible after an import into a learning-management system. A cell a
spreadsheet would run as a formula (a student id starting with = + - @) gets a leading '.
rnncourse.report.export_csv writes the same file with this plugin.
"""
import csv
import os
from pathlib import Path

from nbgrader.plugins.export import ExportPlugin

from . import report

CSV_COLUMNS = ("student", "assignment", "score", "max_score", "percent")
# Cells a spreadsheet would evaluate as a formula (CSV injection); such a value gets a leading '.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: str) -> str:
    value = report.CONTROL.sub("", value)
    return "'" + value if value.startswith(FORMULA_START) else value


class GradesCsvExporter(ExportPlugin):
    """Writes grades.csv (or --to) with the columns CSV_COLUMNS."""

    def export(self, gradebook):
        students, assignments = report.load_gradebook(gradebook, gradebook.course_id)
        if self.assignment:
            assignments = [a for a in assignments if a.name in self.assignment]
        if self.student:
            students = [s for s in students if s in self.student]
        rows = []
        for student in students:
            for a in assignments:
                sub = a.submissions.get(student)
                score = sub.score if sub else None
                rows.append([csv_text(student), csv_text(a.name), report._number(score),
                             report._number(a.max_score), report._number(report._percent(score, a.max_score))])
        path = Path(self.to or "grades.csv")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")  # written whole, then renamed: never half a file
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(CSV_COLUMNS)
            writer.writerows(rows)
        os.replace(tmp, path)
