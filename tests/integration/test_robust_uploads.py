"""Temporary files of corpus uploads never stay behind: a failed upload (the final name is
taken by a directory, so the rename fails) answers 500 and leaves no ".NAME.tmp.*" file; the
temporary files an interrupted upload left (a kill during the write) are removed at the next
start-up, while finished corpora and other files stay."""
import os


def temp_files(corpora):
    return sorted(n for n in os.listdir(corpora) if ".tmp." in n)


def test_failed_upload_leaves_no_temp_file(daemon):
    d = daemon()
    corpora = os.path.join(d.data_dir, "corpora")
    ok = d.post("/api/v1/corpora?name=good", data=b"some text\n")
    assert ok.status_code == 201, ok.text
    blocker = os.path.join(corpora, "blocked")
    os.makedirs(os.path.join(blocker, "inside"))
    r = d.post("/api/v1/corpora?name=blocked", data=b"x" * 100000)
    assert r.status_code == 500, (r.status_code, r.text)
    assert "renaming" in r.json()["detail"], r.text
    assert temp_files(corpora) == []
    names = [c["name"] for c in d.get("/api/v1/corpora").json()["corpora"]]
    assert names == ["upload:good"]


def test_stale_temp_files_swept_at_start(daemon):
    d = daemon(start=False)
    corpora = os.path.join(d.data_dir, "corpora")
    os.makedirs(corpora)
    stale = [".readme.tmp.4242", ".a.b.tmp.1", "..x.tmp.77"]
    keep = ["readme", ".notes", ".tmp.5", ".readme.tmp.", "x.tmp.9"]
    for name in stale + keep:
        with open(os.path.join(corpora, name), "w") as f:
            f.write("partial")
    d.start()
    left = sorted(os.listdir(corpora))
    assert left == sorted(keep), left
    assert "interrupted uploads" in d.log_text()
    # still serving uploads afterwards
    assert d.post("/api/v1/corpora?name=after", data=b"text").status_code == 201
    assert sorted(os.listdir(corpora)) == sorted(keep + ["after"])
