"""The operations guide's own client as a writer, for the live-restore benchmark.

`DatabaseConnection` and `add_inventory_transaction` are copied verbatim from the operations
guide (/work/shared/seed/000_bdf2e650a637e8b6.txt, "Connection Management" and "Inventory
Management"): timeout=30, busy_timeout = 8000, its PRAGMAs, a new connection and BEGIN IMMEDIATE
per transaction. Only the loop below is ours: it calls add_inventory_transaction at a steady rate
until stdin closes or says stop, timing each call, then prints one JSON line.

usage: python3 writer.py DB_PATH [RATE_PER_SECOND] [SKU] [LATENCY_LOG]

LATENCY_LOG, when given, gets one line per committed call: its start (Unix epoch, ms) and its
latency (ms), so a benchmark can split the calls by what else ran at the time.
"""
import json
import os
import sqlite3
import sys
import threading
import time
from contextlib import contextmanager


# --- from the guide, verbatim -------------------------------------------------------------------
class DatabaseConnection:
    """Centralized SQLite database connection management"""
    
    def __init__(self, db_path: str = None):
        self.db_path = db_path or os.getenv('DATABASE_PATH', 'ora.db')
        
    def get_connection(self):
        """Create a new database connection with production settings"""
        conn = sqlite3.connect(
            self.db_path,
            timeout=30.0,  # 30 second timeout for lock acquisition
            check_same_thread=False,  # Allow multi-threading
            isolation_level=None  # Autocommit mode off
        )
        
        # Apply production PRAGMA settings
        conn.executescript("""
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = NORMAL;
            PRAGMA foreign_keys = ON;
            PRAGMA busy_timeout = 8000;
            PRAGMA temp_store = MEMORY;
            PRAGMA cache_size = -20000;
        """)
        
        # Enable dict-like row access
        conn.row_factory = sqlite3.Row
        
        return conn
    
    @contextmanager
    def transaction(self):
        """Context manager for database transactions"""
        conn = self.get_connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.commit()
        except Exception as e:
            conn.rollback()
            raise
        finally:
            conn.close()

# Global instance
db = DatabaseConnection()


def add_inventory_transaction(date, sku, quantity, trans_type, notes=None):
    """Record inventory transaction"""
    with db.transaction() as conn:
        conn.execute("""
            INSERT INTO inventory_transactions 
            (date, sku, quantity, transaction_type, notes)
            VALUES (?, ?, ?, ?, ?)
        """, (date, sku, quantity, trans_type, notes))
        
        # Update inventory current
        if trans_type in ('Receive', 'Adjust Up'):
            conn.execute("""
                UPDATE inventory_current 
                SET current_quantity = current_quantity + ?,
                    last_updated = CURRENT_TIMESTAMP
                WHERE sku = ?
            """, (quantity, sku))
        elif trans_type in ('Ship', 'Adjust Down'):
            conn.execute("""
                UPDATE inventory_current 
                SET current_quantity = current_quantity - ?,
                    last_updated = CURRENT_TIMESTAMP
                WHERE sku = ?
            """, (quantity, sku))
# --- end of the guide's code --------------------------------------------------------------------


def main():
    db.db_path = sys.argv[1]
    rate = float(sys.argv[2]) if len(sys.argv) > 2 else 50.0
    sku = sys.argv[3] if len(sys.argv) > 3 else 'SKU-0001'
    log = open(sys.argv[4], 'w') if len(sys.argv) > 4 else None
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
    latencies, errors = [], []
    print('started', flush=True)
    interval = 1.0 / rate
    n = 0
    while not stop.is_set():
        t = time.perf_counter()
        wall = time.time()
        try:
            add_inventory_transaction('2026-12-01', sku, 1, 'Receive', f'bench writer {os.getpid()} #{n}')
            latencies.append((time.perf_counter() - t) * 1000)
            if log:
                log.write(f'{wall * 1000:.1f} {latencies[-1]:.3f}\n')
        except Exception as e:  # every failure is counted and reported, never retried
            errors.append(f'{type(e).__name__}: {e}')
        n += 1
        spent = time.perf_counter() - t
        if spent < interval:
            stop.wait(interval - spent)
    if log:
        log.close()
    latencies.sort()
    q = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else 0
    print(json.dumps({
        'commits': len(latencies),
        'failures': len(errors),
        'locked': sum('database is locked' in e for e in errors),
        'errors': errors[:5],
        'p50Ms': q(0.5),
        'p99Ms': q(0.99),
        'maxMs': latencies[-1] if latencies else 0,
    }), flush=True)


if __name__ == '__main__':
    main()
