//! Files and directories on both backends.

mod common;
use common::*;
use ringloop::fs::{self, File, OpenOptions};
use std::io;

both_backends! {
    fn write_read_at_offsets_and_metadata(backend) {
        let rt = runtime(backend);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        rt.block_on(async {
            let file = OpenOptions::new().read(true).write(true).create(true).open(&path).await.unwrap();
            file.write_all_at(b"hello".to_vec(), 0).await.0.unwrap();
            file.write_all_at(b"world".to_vec(), 10).await.0.unwrap();
            file.sync_all().await.unwrap();
            file.sync_data().await.unwrap();
            let (res, buf) = file.read_at(Vec::with_capacity(32), 0).await;
            assert_eq!(res.unwrap(), 15);
            assert_eq!(&buf[..5], b"hello");
            assert_eq!(&buf[5..10], &[0; 5]);
            assert_eq!(&buf[10..], b"world");
            let (res, buf) = file.read_at(Vec::with_capacity(4), 100).await;
            assert_eq!((res.unwrap(), buf.len()), (0, 0), "reading past the end is EOF");
            let (res, _) = file.read_exact_at(Vec::with_capacity(20), 0).await;
            assert_eq!(res.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
            let meta = file.metadata().await.unwrap();
            assert_eq!(meta.len(), 15);
            assert!(meta.is_file() && !meta.is_dir());
            file.close().await.unwrap();
            let meta = fs::metadata(&path).await.unwrap();
            assert_eq!(meta.len(), 15);
            assert!(meta.modified() > std::time::SystemTime::UNIX_EPOCH);
        }).unwrap();
    }
}

both_backends! {
    fn whole_file_helpers_and_directories(backend) {
        let rt = runtime(backend);
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        rt.block_on(async {
            fs::create_dir(&sub).await.unwrap();
            assert!(fs::metadata(&sub).await.unwrap().is_dir());
            let big = pattern(3 << 20, 3);
            fs::write(sub.join("a"), big.clone()).await.unwrap();
            fs::rename(sub.join("a"), sub.join("b")).await.unwrap();
            assert_eq!(fs::read(sub.join("b")).await.unwrap(), big);
            let err = fs::remove_dir(&sub).await.unwrap_err();
            assert!(err.to_string().contains("sub"), "{err}");
            fs::remove_file(sub.join("b")).await.unwrap();
            fs::remove_dir(&sub).await.unwrap();
            assert_eq!(fs::metadata(&sub).await.unwrap_err().kind(), io::ErrorKind::NotFound);
        }).unwrap();
    }
}

both_backends! {
    fn bad_input_is_a_clear_error(backend) {
        let rt = runtime(backend);
        let dir = tempfile::tempdir().unwrap();
        rt.block_on(async {
            let err = File::open(dir.path().join("missing")).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::NotFound);
            assert!(err.to_string().contains("missing"), "{err}");
            let err = File::open("nul\0byte").await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            assert!(err.to_string().contains("NUL"));
            let err = OpenOptions::new().open(dir.path().join("x")).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            let err = OpenOptions::new().read(true).create(true).open(dir.path().join("x")).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            let path = dir.path().join("exists");
            fs::write(&path, b"1".to_vec()).await.unwrap();
            let err = OpenOptions::new().write(true).create_new(true).open(&path).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
            let read_only = File::open(&path).await.unwrap();
            let (res, _) = read_only.write_at(b"no".to_vec(), 0).await;
            assert!(res.is_err(), "writing a read-only file fails");
            let err = fs::create_dir(dir.path()).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        }).unwrap();
    }
}

both_backends! {
    fn cursor_reads_and_writes_advance(backend) {
        let rt = runtime(backend);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cursor");
        rt.block_on(async {
            let file = File::create(&path).await.unwrap();
            file.write_all(b"abc".to_vec()).await.0.unwrap();
            file.write_all(b"def".to_vec()).await.0.unwrap();
            file.close().await.unwrap();
            let file = File::open(&path).await.unwrap();
            let (res, first) = file.read(Vec::with_capacity(2)).await;
            assert_eq!((res.unwrap(), first), (2, b"ab".to_vec()));
            let (res, rest) = file.read(Vec::with_capacity(16)).await;
            assert_eq!((res.unwrap(), rest), (4, b"cdef".to_vec()));
            let (res, _) = file.read(Vec::with_capacity(16)).await;
            assert_eq!(res.unwrap(), 0);
        }).unwrap();
    }
}

both_backends! {
    fn append_and_many_concurrent_reads(backend) {
        let rt = runtime(backend);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        rt.block_on(async {
            let data = pattern(1 << 20, 9);
            fs::write(&path, data.clone()).await.unwrap();
            let file = std::rc::Rc::new(File::open(&path).await.unwrap());
            let reads: Vec<_> = (0..64u64)
                .map(|i| {
                    let file = file.clone();
                    ringloop::spawn(async move {
                        let (res, buf) = file.read_exact_at(Vec::with_capacity(4096), i * 16384).await;
                        res.unwrap();
                        (i, buf)
                    })
                })
                .collect();
            for r in reads {
                let (i, buf) = r.await.unwrap();
                let at = (i * 16384) as usize;
                assert_eq!(buf, &data[at..at + 4096]);
            }
            let log = OpenOptions::new().append(true).open(&path).await.unwrap();
            log.write_all_at(b"tail".to_vec(), 0).await.0.unwrap();
            let all = fs::read(&path).await.unwrap();
            assert_eq!(&all[all.len() - 4..], b"tail", "O_APPEND writes go to the end");
        }).unwrap();
    }
}
