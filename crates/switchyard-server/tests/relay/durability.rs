//! Usage is never lost: not when the disk fills up under a running server, and not after it
//! recovers. The data directory sits on a small tmpfs mounted by the test (root needed, as on
//! CI and the development machines; without it the test fails, never skips).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use switchyard_testkit::MockUpstream;

use crate::support::{AccountSpec, TestApp, body, eventually, send_status};

/// A tmpfs of `size` mounted for the test's life.
struct SmallDisk {
    path: PathBuf,
    _parent: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let parent = tempfile::tempdir().unwrap();
        let path = parent.path().join("disk");
        std::fs::create_dir(&path).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "mounting a tmpfs needs root (CI and development machines have it)"
        );
        SmallDisk {
            path,
            _parent: parent,
        }
    }

    /// Writes a file until the filesystem is full; returns its path.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let filler = self.path.join("filler");
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let _ = f.sync_all();
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

fn free(filler: &Path) {
    std::fs::remove_file(filler).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_written_while_the_disk_is_full_lands_once_it_has_room_again() {
    let disk = SmallDisk::mount("8m");
    let data = tempfile::tempdir_in(&disk.path).unwrap();
    let mock = MockUpstream::start().await;
    let app = TestApp::start_in(&mock, data, |_| {}).await;
    app.add_account(AccountSpec::claude("a", "sk-ant-a")).await;
    let stored = |n: usize| {
        let store = app.store.clone();
        async move {
            let rows = store.recent_usage(1000).await.ok()?;
            (rows.len() >= n).then_some(rows.len())
        }
    };
    for _ in 0..10 {
        assert_eq!(send_status(app.messages(body(false))).await, 200);
    }
    assert!(
        eventually(Duration::from_secs(5), || stored(10))
            .await
            .is_some()
    );

    let filler = disk.fill();
    // Requests keep being answered while their records cannot be written.
    for _ in 0..20 {
        assert_eq!(send_status(app.messages(body(false))).await, 200);
    }
    // The server says it is not ready while its usage store fails.
    let unready = eventually(Duration::from_secs(10), || async {
        let r = app
            .http
            .get(format!("{}/readyz", app.url))
            .send()
            .await
            .ok()?;
        (r.status() == 503).then_some(())
    })
    .await;
    assert!(
        unready.is_some(),
        "/readyz must turn unready while usage cannot be stored"
    );

    free(&filler);
    for _ in 0..10 {
        assert_eq!(send_status(app.messages(body(false))).await, 200);
    }
    let all = eventually(Duration::from_secs(20), || stored(40)).await;
    assert_eq!(
        all,
        Some(40),
        "every request's usage is stored after the disk recovered"
    );
    let ready = eventually(Duration::from_secs(10), || async {
        let r = app
            .http
            .get(format!("{}/readyz", app.url))
            .send()
            .await
            .ok()?;
        (r.status() == 200).then_some(())
    })
    .await;
    assert!(ready.is_some(), "ready again once usage is stored");
    app.stop().await;
}
