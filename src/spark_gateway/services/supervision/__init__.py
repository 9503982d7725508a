"""What runs in the background of a gateway process: leases, cluster supervisors, loops and tasks."""
