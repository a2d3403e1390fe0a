"""What a ``-m`` sweep adds to a run: the job's identity and failure record (``job``), the
end-of-sweep report (``report``), and each job's share of the CPU cores (``threads``)."""
