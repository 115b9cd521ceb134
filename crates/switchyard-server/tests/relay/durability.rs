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

/// An ext4 filesystem in a file, loop-mounted for the test's life, that can be made to fail the
/// way a disk does: an ext4 error with `errors=remount-ro` turns it read-only under the server.
struct Ext4Disk {
    image: PathBuf,
    path: PathBuf,
    _parent: tempfile::TempDir,
}

impl Ext4Disk {
    fn create(megabytes: u32) -> Ext4Disk {
        let parent = tempfile::tempdir().unwrap();
        let image = parent.path().join("disk.img");
        let path = parent.path().join("disk");
        std::fs::create_dir(&path).unwrap();
        let made = Command::new("truncate")
            .args(["-s", &format!("{megabytes}M")])
            .arg(&image)
            .status()
            .is_ok_and(|s| s.success())
            && Command::new("mkfs.ext4")
                .args(["-q", "-F"])
                .arg(&image)
                .status()
                .is_ok_and(|s| s.success());
        assert!(made, "mkfs.ext4 is part of the machine (e2fsprogs)");
        let disk = Ext4Disk {
            image,
            path,
            _parent: parent,
        };
        disk.mount();
        disk
    }

    fn mount(&self) {
        let ok = Command::new("mount")
            .args(["-o", "loop,errors=remount-ro"])
            .arg(&self.image)
            .arg(&self.path)
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "loop-mounting an ext4 image needs root (CI and development machines have it)"
        );
    }

    /// The loop device's name, as ext4 names it under /sys/fs/ext4.
    fn device(&self) -> String {
        let out = Command::new("findmnt")
            .args(["-n", "-o", "SOURCE"])
            .arg(&self.path)
            .output()
            .unwrap();
        let source = String::from_utf8_lossy(&out.stdout).trim().to_string();
        source.rsplit('/').next().unwrap().to_string()
    }

    /// An ext4 error: the kernel turns the filesystem read-only at once.
    fn fail(&self) {
        let trigger = format!("/sys/fs/ext4/{}/trigger_fs_error", self.device());
        std::fs::write(&trigger, "switchyard test: simulated disk error").unwrap();
        assert!(
            std::fs::write(self.path.join("probe"), b"x").is_err(),
            "the filesystem is read-only now"
        );
    }

    /// Unmounts, repairs (as an operator would after the error) and mounts again.
    async fn repair(&self) {
        let mut unmounted = false;
        for _ in 0..50 {
            if Command::new("umount")
                .arg(&self.path)
                .status()
                .is_ok_and(|s| s.success())
            {
                unmounted = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            unmounted,
            "nothing holds the failed filesystem after the server stopped"
        );
        let status = Command::new("e2fsck")
            .args(["-f", "-y"])
            .arg(&self.image)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.code().is_some_and(|c| c <= 2), "e2fsck: {status}");
        self.mount();
    }
}

impl Drop for Ext4Disk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_survives_the_data_disk_turning_read_only_under_the_server() {
    let disk = Ext4Disk::create(64);
    let data = disk.path.join("data");
    let mock = MockUpstream::start().await;
    let app = TestApp::start_at(&mock, &data, |_| {}).await;
    app.add_account(AccountSpec::claude("a", "sk-ant-a")).await;
    for _ in 0..20 {
        assert_eq!(send_status(app.messages(body(false))).await, 200);
    }
    app.usage(20).await;

    disk.fail();
    // The relay keeps answering; the records wait in memory.
    for _ in 0..30 {
        assert_eq!(send_status(app.messages(body(false))).await, 200);
    }
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
        "/readyz is unready while usage cannot be stored"
    );
    // Stopping with the store still failing: the records go to a spill file elsewhere.
    app.stop().await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    disk.repair().await;
    let app = TestApp::start_at(&mock, &data, |_| {}).await;
    let records = app.usage(50).await;
    assert_eq!(records.len(), 50, "no usage record lost to the failed disk");
    assert_eq!(records.iter().filter(|r| r.status == 200).count(), 50);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_sign_in_on_a_full_disk_fails_clearly_and_works_once_it_has_room() {
    let disk = SmallDisk::mount("8m");
    let data = tempfile::tempdir_in(&disk.path).unwrap();
    let mock = MockUpstream::start().await;
    let app = TestApp::start_in(&mock, data, |_| {}).await;
    app.add_account(AccountSpec::claude("a", "sk-ant-a")).await;
    let first = app.admin().await;
    let filler = disk.fill();
    // Usage is queued meanwhile, so the store has failed writes behind it.
    for _ in 0..5 {
        assert_eq!(send_status(app.messages(body(false))).await, 200);
    }
    let login = || {
        app.http
            .post(format!("{}/api/admin/login", app.url))
            .json(&serde_json::json!({"username": "root", "password": "admin-password-1"}))
            .send()
    };
    let whoami = |token: String| {
        app.http
            .get(format!("{}/api/admin/session", app.url))
            .bearer_auth(token)
            .send()
    };
    for _ in 0..3 {
        let resp = login().await.unwrap();
        let status = resp.status().as_u16();
        if status == 200 {
            // A token handed out must work: never half-applied state.
            let v: serde_json::Value = resp.json().await.unwrap();
            let token = v["token"].as_str().unwrap().to_string();
            assert_eq!(whoami(token).await.unwrap().status(), 200);
        } else {
            assert!(
                status >= 500,
                "a store failure is the server's, not a wrong password: {status}"
            );
        }
    }
    // The session from before keeps working.
    assert_eq!(whoami(first).await.unwrap().status(), 200);
    free(&filler);
    let token = eventually(Duration::from_secs(10), || async {
        let resp = login().await.ok()?;
        if resp.status() != 200 {
            return None;
        }
        let v: serde_json::Value = resp.json().await.ok()?;
        v["token"].as_str().map(str::to_string)
    })
    .await
    .expect("sign-in works once the disk has room");
    assert_eq!(whoami(token).await.unwrap().status(), 200);
    app.usage(5).await;
    app.stop().await;
}
