
        /// <summary>What a segment operation refuses or finds wrong: the
        /// message names the segment and the facts (a field's path and its
        /// bad value; never text from the segment).</summary>
        public sealed class ShmException : global::System.Exception
        {
            public ShmException(string message) : base(message) { }
        }

        static string Bad(string path, string what)
        {
            return "field `" + path + "` holds an invalid value: " + what;
        }

        /// <summary>The index of the first byte of `p[0..n]` that does not
        /// start a valid UTF-8 sequence (as Rust's `valid_up_to`), or -1
        /// when all of it is UTF-8.</summary>
        static unsafe int Utf8Invalid(byte* p, int n)
        {
            int i = 0;
            while (i < n)
            {
                uint b = p[i];
                if (b < 0x80) { i++; continue; }
                int need; uint c, min;
                if (b >= 0xC2 && b <= 0xDF) { need = 1; c = b & 0x1F; min = 0x80; }
                else if (b >= 0xE0 && b <= 0xEF) { need = 2; c = b & 0x0F; min = 0x800; }
                else if (b >= 0xF0 && b <= 0xF4) { need = 3; c = b & 0x07; min = 0x10000; }
                else return i;
                if (n - i <= need) return i;
                for (int k = 1; k <= need; k++)
                {
                    uint t = p[i + k];
                    if ((t & 0xC0) != 0x80) return i;
                    c = (c << 6) | (t & 0x3F);
                }
                if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return i;
                i += need + 1;
            }
            return -1;
        }

        /// <summary>What is wrong with the FixedStr of capacity `cap` at
        /// `p` (a little-endian u16 length, then `cap` bytes), or null: the
        /// Rust reader's checks and messages.</summary>
        static unsafe string StrError(byte* p, int cap)
        {
            int len = p[0] | (p[1] << 8);
            if (len > cap)
                return "string length " + len + " exceeds its capacity " + cap;
            int at = Utf8Invalid(p + 2, len);
            if (at >= 0)
                return "string of length " + len + " is not UTF-8: byte " + at + " is 0x" + p[2 + at].ToString("x2");
            return null;
        }

        static unsafe string DecodeStr(byte* p, int cap)
        {
            string e = StrError(p, cap);
            if (e != null) throw new ShmException(e);
            int len = p[0] | (p[1] << 8);
            return global::System.Text.Encoding.UTF8.GetString(p + 2, len);
        }

        static unsafe void EncodeStr(byte* p, int cap, string s)
        {
            if (s == null) throw new global::System.ArgumentNullException("s");
            // Throws on a lone surrogate rather than storing U+FFFD.
            byte[] b = new global::System.Text.UTF8Encoding(false, true).GetBytes(s);
            if (b.Length > cap)
                throw new global::System.ArgumentException("the string is " + b.Length + " bytes of UTF-8; this FixedStr holds at most " + cap);
            p[0] = (byte)b.Length;
            p[1] = (byte)(b.Length >> 8);
            for (int i = 0; i < cap; i++) p[2 + i] = i < b.Length ? b[i] : (byte)0;
        }

        /// <summary>What a claim of write access found: the dead owner it
        /// took over from (PreviousPid, 0 if write access was free but a
        /// write had been left unfinished), whether the last write was
        /// complete, and the version after the repair.</summary>
        public sealed class TakeOver
        {
            public uint PreviousPid;
            public bool LastWriteComplete;
            public ulong Version;
            public override string ToString()
            {
                return "took over" + (PreviousPid != 0 ? " from dead process " + PreviousPid : "")
                    + (LastWriteComplete ? "" : "; the last write was lost") + "; version " + Version;
            }
        }

        /// <summary>A segment of this schema, opened by name: on Linux the
        /// POSIX object /dev/shm/NAME (open + mmap), on Windows the Win32
        /// named mapping NAME. Read() returns a checked consistent copy;
        /// WaitForChange waits for a write; Claim() takes write access
        /// (docs/FORMAT.md "The claim word"), Write(value) writes, Release()
        /// or Dispose() gives write access back. The header is checked
        /// once, on a private copy (Reader), and only its offsets are used.
        /// 64-bit processes only (8-byte loads and stores must be atomic).
        /// Not for processes made by fork. The writer ignores the
        /// read-only doorbell (docs/FORMAT.md): Rust read-only waiters see
        /// its writes at their next re-check (at most 100 ms).</summary>
        public sealed unsafe class Segment : global::System.IDisposable
        {
            /// <summary>The name given to Open.</summary>
            public readonly string Name;
            readonly bool writable;
            readonly bool linux;
            byte* basePtr;
            long length;
            Reader reader;
            // POSIX: the descriptor the object was mapped from, and the mapping.
            int fd = -1;
            global::System.IntPtr mapAddr;
            // Win32.
            global::System.IO.MemoryMappedFiles.MemoryMappedFile mmf;
            global::System.IO.MemoryMappedFiles.MemoryMappedViewAccessor view;
            // Write access: our claim word, and the writer lock's descriptor.
            ulong ownWord;
            int lockFd = -1;

            /// <summary>The checked header (a private copy).</summary>
            public SegmentHeader Header { get { return reader.Header; } }
            /// <summary>Whether this handle holds write access.</summary>
            public bool IsWriter { get { return ownWord != 0; } }

            Segment(string name, bool writable)
            {
                Name = name;
                this.writable = writable;
                linux = global::System.Environment.OSVersion.Platform == global::System.PlatformID.Unix
                    && global::System.IO.Directory.Exists("/proc/self/fd");
            }

            /// <summary>Opens the segment `name` (read-only unless
            /// `writable`; a writable handle may Claim write access and
            /// registers its waits for the writers' wake-ups) and checks its
            /// header. Throws ShmException.</summary>
            public static Segment Open(string name, bool writable = false)
            {
                if (global::System.IntPtr.Size != 8)
                    throw new ShmException(name + ": the C# bindings need a 64-bit process");
                var s = new Segment(name, writable);
                if (!s.linux && global::System.Environment.OSVersion.Platform != global::System.PlatformID.Win32NT)
                    throw new ShmException(name + ": the C# bindings open segments on Linux and Windows only");
                try
                {
                    if (s.linux) s.MapPosix();
                    else s.MapWin32();
                    string err = Reader.Check(s.basePtr, s.length, out s.reader);
                    if (err != null) throw new ShmException(name + ": " + err);
                    return s;
                }
                catch
                {
                    s.Unmap();
                    throw;
                }
            }

            void MapPosix()
            {
                string n = Name.StartsWith("/") ? Name.Substring(1) : Name;
                if (n.Length == 0 || n.IndexOf('/') >= 0 || n == "." || n == "..")
                    throw new ShmException("invalid POSIX segment name (one path component expected)");
                // As shm_open: no symbolic link; and never blocking (a FIFO
                // planted under the name).
                fd = Native.open("/dev/shm/" + n, (writable ? Native.O_RDWR : Native.O_RDONLY)
                    | Native.O_CLOEXEC | Native.O_NOFOLLOW | Native.O_NONBLOCK, 0);
                if (fd < 0) throw new ShmException(Name + ": cannot open /dev/shm/" + n + " (errno " + global::System.Runtime.InteropServices.Marshal.GetLastWin32Error() + ")");
                // The real size, from the OS, before mapping: a header that
                // promises more is refused by Check, never a SIGBUS.
                length = Native.lseek(fd, 0, 2);
                if (length < SegmentHeader.HeaderSize)
                    throw new ShmException(Name + ": the object is smaller than the 256-byte segment header");
                var addr = Native.mmap(global::System.IntPtr.Zero, new global::System.UIntPtr((ulong)length),
                    writable ? 3 : 1, 1 /* MAP_SHARED */, fd, 0);
                if (addr == new global::System.IntPtr(-1))
                    throw new ShmException(Name + ": mmap failed (errno " + global::System.Runtime.InteropServices.Marshal.GetLastWin32Error() + ")");
                mapAddr = addr;
                basePtr = (byte*)addr;
            }

            void MapWin32()
            {
                var access = writable ? global::System.IO.MemoryMappedFiles.MemoryMappedFileAccess.ReadWrite
                    : global::System.IO.MemoryMappedFiles.MemoryMappedFileAccess.Read;
                var rights = writable ? global::System.IO.MemoryMappedFiles.MemoryMappedFileRights.ReadWrite
                    : global::System.IO.MemoryMappedFiles.MemoryMappedFileRights.Read;
                try
                {
                    mmf = global::System.IO.MemoryMappedFiles.MemoryMappedFile.OpenExisting(Name, rights);
                    view = mmf.CreateViewAccessor(0, 0, access);
                }
                catch (global::System.Exception e)
                {
                    throw new ShmException(Name + ": cannot open the named mapping (" + e.GetType().Name + ")");
                }
                byte* p = null;
                view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
                basePtr = p + view.PointerOffset;
                // The view's size (whole pages, as VirtualQuery reports).
                length = (long)view.SafeMemoryMappedViewHandle.ByteLength - view.PointerOffset;
            }

            void Unmap()
            {
                if (mapAddr != global::System.IntPtr.Zero)
                {
                    Native.munmap(mapAddr, new global::System.UIntPtr((ulong)length));
                    mapAddr = global::System.IntPtr.Zero;
                }
                if (fd >= 0) { Native.close(fd); fd = -1; }
                if (view != null)
                {
                    view.SafeMemoryMappedViewHandle.ReleasePointer();
                    view.Dispose();
                    view = null;
                }
                if (mmf != null) { mmf.Dispose(); mmf = null; }
                basePtr = null;
            }

            /// <summary>Releases write access if held, and unmaps.</summary>
            public void Dispose()
            {
                if (basePtr == null) return;
                Release();
                Unmap();
            }

            static ulong Load(byte* p) { return Volatile.Read(ref *(ulong*)p); }
            static void Store(byte* p, ulong v) { Volatile.Write(ref *(ulong*)p, v); }
            static bool Later(ulong a, ulong b) { return unchecked((long)(a - b)) > 0; }

            void Live()
            {
                if (basePtr == null) throw new global::System.ObjectDisposedException("Segment " + Name);
            }

            /// <summary>The number of completed writes (max(seq, backup_seq) / 2).</summary>
            public ulong Version
            {
                get
                {
                    Live();
                    ulong p = Load(basePtr + 128), q = Load(basePtr + 240);
                    return (Later(q, p) ? q : p) / 2;
                }
            }

            /// <summary>A consistent, checked copy of the value.</summary>
            public {name} Read() { ulong v; return Read(out v); }

            /// <summary>A consistent copy of the value and its version,
            /// checked by Validate (ShmException names a bad field). Spins
            /// 100 attempts, then yields between attempts, for at most a
            /// second, as the Rust reader does.</summary>
            public {name} Read(out ulong version)
            {
                Live();
                var clock = global::System.Diagnostics.Stopwatch.StartNew();
                for (long t = 0; ; t++)
                {
                    {name} value;
                    if (reader.TryRead(out value, out version, 1))
                    {
                        string err = Validate((byte*)&value);
                        if (err != null) throw new ShmException(Name + ": " + err);
                        return value;
                    }
                    if (t >= 100)
                    {
                        if (clock.ElapsedMilliseconds > 1000)
                        {
                            ulong w = Load(basePtr + 144);
                            if (w != 0 && !OwnerAlive(w))
                                throw new ShmException(Name + ": the writer (process " + (uint)w + ") died in the middle of a write and no complete copy is left");
                            throw new ShmException(Name + ": no complete copy of the payload within 1 s (a damaged segment)");
                        }
                        Thread.Yield();
                    }
                }
            }

            /// <summary>Waits until the version differs from `since`, for at
            /// most `timeoutMs` ms (negative: no limit): the new version, or
            /// null on timeout. Linux, writable handle: sleeps on the
            /// `notify` futex (counted in `waiters`), re-checking at least
            /// every 50 ms. Read-only handles and Windows poll every
            /// millisecond (no doorbell registration).</summary>
            public ulong? WaitForChange(ulong since, int timeoutMs)
            {
                Live();
                var clock = global::System.Diagnostics.Stopwatch.StartNew();
                long nr = writable && linux ? Native.FutexNr() : 0;
                int* notify = (int*)(basePtr + 252);
                if (nr != 0) Interlocked.Increment(ref *(int*)(basePtr + 248));
                try
                {
                    while (true)
                    {
                        // Sequentially consistent with the writer's side:
                        // the fence orders our increment of `waiters` (or
                        // the last sleep) before these loads.
                        Thread.MemoryBarrier();
                        int n = Volatile.Read(ref *notify);
                        Thread.MemoryBarrier();
                        ulong v = Version;
                        if (v != since) return v;
                        long left = timeoutMs < 0 ? 50 : timeoutMs - clock.ElapsedMilliseconds;
                        if (left <= 0) return null;
                        if (nr != 0)
                        {
                            var ts = new Native.Timespec { sec = 0, nsec = global::System.Math.Min(left, 50) * 1000000 };
                            // FUTEX_WAIT (shared): returns at once if
                            // notify != n; errors (EAGAIN, EINTR,
                            // ETIMEDOUT) all mean "look again".
                            Native.syscall(nr, notify, 0, n, &ts, null, 0);
                        }
                        else
                        {
                            Thread.Sleep(1);
                        }
                    }
                }
                finally
                {
                    if (nr != 0) Interlocked.Decrement(ref *(int*)(basePtr + 248));
                }
            }

            // ---- process facts (docs/FORMAT.md "Without the writer lock") ----

            static uint CurrentPid()
            {
                return (uint)global::System.Diagnostics.Process.GetCurrentProcess().Id;
            }

            /// <summary>Field `index` after the command of /proc/PID/stat
            /// (0: the state; 19: starttime), or null.</summary>
            static string ProcStat(string path, int index)
            {
                try
                {
                    string s = global::System.IO.File.ReadAllText(path);
                    int close = s.LastIndexOf(')');
                    if (close < 0) return null;
                    var f = s.Substring(close + 1).Split(new[] { ' ', '\n' }, global::System.StringSplitOptions.RemoveEmptyEntries);
                    return index < f.Length ? f[index] : null;
                }
                catch (global::System.Exception) { return null; }
            }

            /// <summary>The start token of `pid` as the Rust runtime
            /// computes it: Linux, the low 32 bits of starttime (the 22nd
            /// field of /proc/PID/stat); Windows, the low half of the
            /// creation time (FILETIME); 0 if unknown.</summary>
            uint StartToken(uint pid)
            {
                if (linux)
                {
                    ulong t;
                    string s = ProcStat("/proc/" + pid + "/stat", 19);
                    return s != null && ulong.TryParse(s, out t) ? unchecked((uint)t) : 0;
                }
                global::System.IntPtr h = Win32.OpenProcess(Win32.PROCESS_QUERY_LIMITED_INFORMATION, false, pid);
                if (h == global::System.IntPtr.Zero) return 0;
                long created, exited, kernel, user;
                bool ok = Win32.GetProcessTimes(h, out created, out exited, out kernel, out user);
                Win32.CloseHandle(h);
                return ok ? unchecked((uint)created) : 0;
            }

            bool Alive(uint pid)
            {
                if (pid == 0 || pid > int.MaxValue) return false;
                if (linux)
                {
                    if (Native.kill((int)pid, 0) != 0 && global::System.Runtime.InteropServices.Marshal.GetLastWin32Error() == 3 /* ESRCH */)
                        return false;
                    // A zombie: the process and every thread of it.
                    string st = ProcStat("/proc/" + pid + "/stat", 0);
                    if (st != "Z" && st != "X") return true;
                    try
                    {
                        foreach (var task in global::System.IO.Directory.GetDirectories("/proc/" + pid + "/task"))
                        {
                            string ts = ProcStat(task + "/stat", 0);
                            if (ts != null && ts != "Z" && ts != "X") return true;
                        }
                    }
                    catch (global::System.Exception) { return true; }
                    return false;
                }
                // OpenProcess + GetExitCodeProcess: a process we may not
                // query counts as alive.
                global::System.IntPtr ph = Win32.OpenProcess(Win32.PROCESS_QUERY_LIMITED_INFORMATION, false, pid);
                if (ph == global::System.IntPtr.Zero)
                    return global::System.Runtime.InteropServices.Marshal.GetLastWin32Error() == 5 /* ERROR_ACCESS_DENIED */;
                uint code;
                bool got = Win32.GetExitCodeProcess(ph, out code);
                Win32.CloseHandle(ph);
                return !got || code == 259 /* STILL_ACTIVE */;
            }

            /// <summary>Whether the owner named by claim word `w` may be
            /// alive: its process exists and, where both start tokens are
            /// known, it is the same process.</summary>
            bool OwnerAlive(ulong w)
            {
                uint pid = (uint)w, token = (uint)(w >> 32);
                if (!Alive(pid)) return false;
                if (token != 0)
                {
                    uint now = StartToken(pid);
                    if (now != 0 && now != token) return false;
                }
                return true;
            }

            // ---- write access ----

            /// <summary>Claims write access, waiting at most `waitMs` ms for
            /// a live owner (then ShmException "... holds write access").
            /// On Linux, first the writer lock (F_OFD_SETLK on bytes
            /// 144..152 through a fresh open of the object), then the claim
            /// word; elsewhere the claim word and the process checks. Takes
            /// over from a dead owner and repairs an interrupted write:
            /// returns what it found (null: write access was free and
            /// nothing was repaired).</summary>
            public TakeOver Claim(int waitMs = 0)
            {
                Live();
                if (!writable) throw new ShmException(Name + ": opened read-only; Open(name, writable: true) to write");
                if (IsWriter) return null;
                uint me = CurrentPid();
                ulong mine = me | ((ulong)StartToken(me) << 32);
                var clock = global::System.Diagnostics.Stopwatch.StartNew();
                bool useLock = linux;
                while (true)
                {
                    ulong prev;
                    int r = useLock ? TryClaimLocked(mine, out prev) : TryClaimWord(mine, out prev);
                    if (r == 2) { useLock = false; continue; }
                    if (r == 0)
                    {
                        ownWord = mine;
                        Store(basePtr + 152, (ulong)(global::System.DateTime.UtcNow - new global::System.DateTime(1970, 1, 1, 0, 0, 0, global::System.DateTimeKind.Utc)).Ticks * 100);
                        return Recover(prev);
                    }
                    if (clock.ElapsedMilliseconds >= waitMs)
                    {
                        ulong w = Load(basePtr + 144);
                        throw new ShmException(Name + ": " + (w == 0 ? "another process" : "process " + (uint)w)
                            + " holds write access; wait longer, or only read");
                    }
                    Thread.Sleep(clock.ElapsedMilliseconds < 10 ? 0 : 1);
                }
            }

            /// <summary>0: claimed (`prev` the word replaced); 1: busy; 2:
            /// refused by a read lock (claim without the lock).</summary>
            int TryClaimLocked(ulong mine, out ulong prev)
            {
                prev = 0;
                int lfd = Native.open("/proc/self/fd/" + fd, Native.O_RDWR | Native.O_CLOEXEC, 0);
                if (lfd < 0) throw new ShmException(Name + ": cannot reopen the object for the writer lock (errno " + global::System.Runtime.InteropServices.Marshal.GetLastWin32Error() + ")");
                var fl = new Native.Flock { l_type = Native.F_WRLCK, l_whence = 0, l_start = 144, l_len = 8, l_pid = 0 };
                if (Native.fcntl(lfd, Native.F_OFD_SETLK, &fl) != 0)
                {
                    int errno = global::System.Runtime.InteropServices.Marshal.GetLastWin32Error();
                    var q = new Native.Flock { l_type = Native.F_WRLCK, l_whence = 0, l_start = 144, l_len = 8, l_pid = 0 };
                    bool readLock = Native.fcntl(lfd, Native.F_OFD_GETLK, &q) == 0 && q.l_type == Native.F_RDLCK;
                    Native.close(lfd);
                    if (errno != 11 /* EAGAIN */ && errno != 13 /* EACCES */)
                        throw new ShmException(Name + ": the writer lock failed (errno " + errno + ")");
                    return readLock ? 2 : 1;
                }
                // Nobody else holds write access now, unless a live owner
                // claimed without the lock (during a read lock).
                while (true)
                {
                    ulong w = Load(basePtr + 144);
                    if (w != 0 && OwnerAlive(w))
                    {
                        Unlock(lfd);
                        return 1;
                    }
                    if (Interlocked.CompareExchange(ref *(long*)(basePtr + 144), (long)mine, (long)w) == (long)w)
                    {
                        prev = w;
                        lockFd = lfd;
                        return 0;
                    }
                }
            }

            int TryClaimWord(ulong mine, out ulong prev)
            {
                prev = Load(basePtr + 144);
                if (prev != 0 && OwnerAlive(prev)) return 1;
                return Interlocked.CompareExchange(ref *(long*)(basePtr + 144), (long)mine, (long)prev) == (long)prev ? 0 : 1;
            }

            static void Unlock(int lfd)
            {
                var fl = new Native.Flock { l_type = Native.F_UNLCK, l_whence = 0, l_start = 144, l_len = 8, l_pid = 0 };
                Native.fcntl(lfd, Native.F_OFD_SETLK, &fl);
                Native.close(lfd);
            }

            /// <summary>`recover` (docs/FORMAT.md): both counters even,
            /// nothing to do; one odd, the latest copy is written into the
            /// torn one (a write); both odd, write access is given back and
            /// the claim fails.</summary>
            TakeOver Recover(ulong prev)
            {
                ulong p = Load(basePtr + 128), q = Load(basePtr + 240);
                bool pOdd = (p & 1) != 0, qOdd = (q & 1) != 0;
                if (pOdd && qOdd)
                {
                    Release();
                    throw new ShmException(Name + ": both copies of the payload are marked as being written (a damaged segment)");
                }
                if (!pOdd && !qOdd)
                    return prev == 0 ? null : new TakeOver { PreviousPid = (uint)prev, LastWriteComplete = true, Version = Version };
                byte* latest = basePtr + (pOdd ? Header.backup_offset : Header.payload_offset);
                {name} copy;
                byte* d = (byte*)&copy;
                int i = 0;
                for (; i + 8 <= Size; i += 8) *(ulong*)(d + i) = Load(latest + i);
                if (i < Size)
                {
                    ulong w = Load(latest + i);
                    byte* b = (byte*)&w;
                    for (int k = 0; i + k < Size; k++) d[i + k] = b[k];
                }
                ulong v = WriteCopy(d);
                Notify();
                return new TakeOver { PreviousPid = (uint)prev, LastWriteComplete = false, Version = v };
            }

            /// <summary>Gives write access back: the claim word (only if it
            /// is still ours), then the writer lock.</summary>
            public void Release()
            {
                if (ownWord == 0) return;
                Interlocked.CompareExchange(ref *(long*)(basePtr + 144), 0, (long)ownWord);
                ownWord = 0;
                if (lockFd >= 0) { Unlock(lockFd); lockFd = -1; }
            }

            /// <summary>Writes `value` (checked by Validate first:
            /// ArgumentException names a bad field) with the alternating
            /// copies protocol, then bumps `notify` and wakes the sleepers.
            /// Returns the new version. Needs write access (Claim).</summary>
            public ulong Write({name} value)
            {
                Live();
                if (!IsWriter) throw new ShmException(Name + ": this handle does not hold write access (Claim first)");
                string err = Validate((byte*)&value);
                if (err != null) throw new global::System.ArgumentException(err, "value");
                ulong v = WriteCopy((byte*)&value);
                Notify();
                return v;
            }

            ulong WriteCopy(byte* src)
            {
                ulong p = Load(basePtr + 128), q = Load(basePtr + 240);
                bool backupLatest = (q & 1) == 0 && ((p & 1) != 0 || Later(q, p));
                ulong s = (Later(q, p) ? q : p) & ~1UL;
                byte* seq = basePtr + (backupLatest ? 128 : 240);
                byte* dst = basePtr + (backupLatest ? Header.payload_offset : Header.backup_offset);
                Store(seq, unchecked(s + 1));
                Thread.MemoryBarrier();
                int i = 0;
                for (; i + 8 <= Size; i += 8) Store(dst + i, *(ulong*)(src + i));
                if (i < Size)
                {
                    // The last word whole: our bytes merged into its rest.
                    ulong w = Load(dst + i);
                    byte* b = (byte*)&w;
                    for (int k = 0; i + k < Size; k++) b[k] = src[i + k];
                    Store(dst + i, w);
                }
                Store(seq, unchecked(s + 2));
                return unchecked(s + 2) / 2;
            }

            void Notify()
            {
                Interlocked.Increment(ref *(int*)(basePtr + 252));
                // Interlocked is a full fence: this load follows the increment.
                if (Volatile.Read(ref *(int*)(basePtr + 248)) != 0 && linux)
                {
                    long nr = Native.FutexNr();
                    // FUTEX_WAKE (shared), every sleeper.
                    if (nr != 0) Native.syscall(nr, (int*)(basePtr + 252), 1, int.MaxValue, null, null, 0);
                }
            }
        }

        /// <summary>The Win32 process facts the Segment uses (as the Rust
        /// runtime: OpenProcess, GetExitCodeProcess, GetProcessTimes).</summary>
        static class Win32
        {
            public const uint PROCESS_QUERY_LIMITED_INFORMATION = 0x1000;
            [global::System.Runtime.InteropServices.DllImport("kernel32", SetLastError = true)] public static extern global::System.IntPtr OpenProcess(uint access, bool inherit, uint pid);
            [global::System.Runtime.InteropServices.DllImport("kernel32", SetLastError = true)] public static extern bool GetExitCodeProcess(global::System.IntPtr h, out uint code);
            [global::System.Runtime.InteropServices.DllImport("kernel32", SetLastError = true)] public static extern bool GetProcessTimes(global::System.IntPtr h, out long created, out long exited, out long kernel, out long user);
            [global::System.Runtime.InteropServices.DllImport("kernel32", SetLastError = true)] public static extern bool CloseHandle(global::System.IntPtr h);
        }

        /// <summary>The Linux system calls the Segment makes (64-bit
        /// layouts of `struct flock` and `struct timespec`).</summary>
        static unsafe class Native
        {
            public const int O_RDONLY = 0, O_RDWR = 2, O_NONBLOCK = 0x800, O_CLOEXEC = 0x80000;
            /// <summary>O_NOFOLLOW: 0x20000 on x86-64, 0x8000 on arm64.</summary>
            public static int O_NOFOLLOW
            {
                get
                {
                    return global::System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture
                        == global::System.Runtime.InteropServices.Architecture.Arm64 ? 0x8000 : 0x20000;
                }
            }
            public const int F_OFD_GETLK = 36, F_OFD_SETLK = 37;
            public const short F_RDLCK = 0, F_WRLCK = 1, F_UNLCK = 2;

            [StructLayout(LayoutKind.Sequential)]
            public struct Flock { public short l_type; public short l_whence; public long l_start; public long l_len; public int l_pid; }
            [StructLayout(LayoutKind.Sequential)]
            public struct Timespec { public long sec; public long nsec; }

            [global::System.Runtime.InteropServices.DllImport("libc", SetLastError = true)] public static extern int open(string path, int flags, int mode);
            [global::System.Runtime.InteropServices.DllImport("libc", SetLastError = true)] public static extern int close(int fd);
            [global::System.Runtime.InteropServices.DllImport("libc", SetLastError = true)] public static extern long lseek(int fd, long offset, int whence);
            [global::System.Runtime.InteropServices.DllImport("libc", SetLastError = true)] public static extern global::System.IntPtr mmap(global::System.IntPtr addr, global::System.UIntPtr len, int prot, int flags, int fd, long offset);
            [global::System.Runtime.InteropServices.DllImport("libc", SetLastError = true)] public static extern int munmap(global::System.IntPtr addr, global::System.UIntPtr len);
            [global::System.Runtime.InteropServices.DllImport("libc", SetLastError = true)] public static extern int fcntl(int fd, int cmd, Flock* lk);
            [global::System.Runtime.InteropServices.DllImport("libc", SetLastError = true)] public static extern int kill(int pid, int sig);
            [global::System.Runtime.InteropServices.DllImport("libc", SetLastError = true)] public static extern long syscall(long nr, int* uaddr, int op, int val, Timespec* ts, int* uaddr2, int val3);

            /// <summary>SYS_futex for this CPU (x86-64: 202, arm64: 98), 0
            /// where unknown (then waits poll).</summary>
            public static long FutexNr()
            {
                var a = global::System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture;
                if (a == global::System.Runtime.InteropServices.Architecture.X64) return 202;
                if (a == global::System.Runtime.InteropServices.Architecture.Arm64) return 98;
                return 0;
            }
        }
