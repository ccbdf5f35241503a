"""The base of every refusal the product gives: a stable code and a message people read,
and the event store's refusals, which every layer above it may need to recognise."""


class ThiduaError(Exception):
    """A refusal with a stable, machine-readable code and a Vietnamese message."""

    code: str = "ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


class DatabaseUnavailable(ThiduaError):
    """The database cannot be reached (down, restarting, the connection lost): nothing is
    wrong with the request, which may be sent again (a command with its idempotency key)."""

    code = "DATABASE_UNAVAILABLE"
    retry_after = 5  # seconds: a restart takes a few


class DatabaseBusy(DatabaseUnavailable):
    """The database is reachable but has no connection free (the pool or the server is
    full): the request may be sent again shortly."""

    code = "DATABASE_BUSY"
    retry_after = 1


class ConcurrencyConflict(ThiduaError):
    """The stream moved on since the caller read it: nothing was recorded."""

    code = "CONCURRENCY_CONFLICT"

    def __init__(self, stream_id: str, expected: int, actual: int) -> None:
        super().__init__(
            f"Dữ liệu đã được người khác thay đổi trong lúc bạn thao tác "
            f"(mong đợi phiên bản {expected}, hiện là {actual}). "
            "Vui lòng tải lại và thực hiện lại."
        )
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class UnknownTenant(ThiduaError):
    """No cluster has this code."""

    code = "UNKNOWN_CLUSTER"

    def __init__(self, tenant: str) -> None:
        super().__init__(f"Không tìm thấy cụm thi đua có mã '{tenant}'.")
        self.tenant = tenant


class TenantExists(ThiduaError):
    """A cluster with this code is already registered."""

    code = "CLUSTER_EXISTS"

    def __init__(self, tenant: str) -> None:
        super().__init__(f"Cụm thi đua có mã '{tenant}' đã tồn tại.")
        self.tenant = tenant


class InvalidTenantCode(ThiduaError):
    """A cluster code must be short lowercase ASCII, digits and hyphens."""

    code = "INVALID_CLUSTER_CODE"

    def __init__(self, tenant: str) -> None:
        super().__init__(
            f"Mã cụm thi đua '{tenant}' không hợp lệ: chỉ dùng chữ thường không dấu, "
            "chữ số và dấu gạch ngang, ví dụ 'cum-xii'."
        )
        self.tenant = tenant


class InvalidTenantName(ThiduaError):
    """A cluster needs a name people can read: not blank, not a paragraph."""

    code = "INVALID_CLUSTER_NAME"

    def __init__(self, limit: int) -> None:
        super().__init__(f"Tên cụm thi đua không được để trống và dài tối đa {limit} ký tự.")


class InvalidIdempotencyKey(ThiduaError):
    """A retry's key is short printable ASCII, so it fits the key's index."""

    code = "INVALID_IDEMPOTENCY_KEY"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"Khóa chống gửi lặp (idempotencyKey) dài từ 1 đến {limit} ký tự, chỉ gồm chữ "
            "không dấu, chữ số và dấu câu ASCII (không có khoảng trắng), ví dụ một UUID."
        )
