/// Typed views of the Docker Engine API objects Pier reads (API ≥ 1.41). Only the fields Pier uses are
/// declared; unknown fields are ignored, missing optional ones are nil.
public enum Docker {
    /// `GET /version`.
    public struct Version: Decodable, Sendable, Hashable {
        public var Version: String?
        public var ApiVersion: String
        public var MinAPIVersion: String?
    }

    /// A Swarm service (`GET /services`).
    public struct Service: Decodable, Sendable, Hashable {
        public var ID: String
        /// The spec's version: an update names it, and the engine refuses one made from an older read.
        public var Version: ObjectVersion?
        public var Spec: ServiceSpec
        public var Endpoint: ServiceEndpoint?
        /// The last (or current) rolling update, absent when none ran.
        public var UpdateStatus: UpdateStatus?

        public init(ID: String, Version: ObjectVersion? = nil, Spec: ServiceSpec, Endpoint: ServiceEndpoint? = nil,
                    UpdateStatus: UpdateStatus? = nil) {
            self.ID = ID
            self.Version = Version
            self.Spec = Spec
            self.Endpoint = Endpoint
            self.UpdateStatus = UpdateStatus
        }
    }

    public struct ObjectVersion: Decodable, Sendable, Hashable {
        public var Index: UInt64
        public init(Index: UInt64) { self.Index = Index }
    }

    public struct UpdateStatus: Decodable, Sendable, Hashable {
        /// `updating`, `paused`, `completed`, `rollback_started`, `rollback_paused`, `rollback_completed`.
        public var State: String?
        public init(State: String?) { self.State = State }
    }

    /// A Swarm secret's metadata (`GET /secrets`); the engine never returns a secret's data.
    public struct Secret: Decodable, Sendable, Hashable {
        public var ID: String
        public var Spec: SecretSpec
        public init(ID: String, name: String) {
            self.ID = ID
            self.Spec = SecretSpec(Name: name)
        }
    }

    public struct SecretSpec: Decodable, Sendable, Hashable {
        public var Name: String
    }

    /// A secret as a service's containers receive it.
    public struct SecretReference: Decodable, Sendable, Hashable {
        public var SecretID: String?
        public var SecretName: String?
        public init(SecretID: String?, SecretName: String?) {
            self.SecretID = SecretID
            self.SecretName = SecretName
        }
    }

    public struct ContainerSpec: Decodable, Sendable, Hashable {
        public var Secrets: [SecretReference]?
        public init(Secrets: [SecretReference]?) { self.Secrets = Secrets }
    }

    public struct ServiceSpec: Decodable, Sendable, Hashable {
        public var Name: String
        public var Labels: [String: String]?
        public var TaskTemplate: TaskTemplate?
        public var EndpointSpec: EndpointSpec?

        public init(Name: String, Labels: [String: String]? = nil, TaskTemplate: TaskTemplate? = nil, EndpointSpec: EndpointSpec? = nil) {
            self.Name = Name
            self.Labels = Labels
            self.TaskTemplate = TaskTemplate
            self.EndpointSpec = EndpointSpec
        }
    }

    public struct TaskTemplate: Decodable, Sendable, Hashable {
        public var Networks: [NetworkAttachmentConfig]?
        public var ContainerSpec: ContainerSpec?
        public init(Networks: [NetworkAttachmentConfig]? = nil, ContainerSpec: ContainerSpec? = nil) {
            self.Networks = Networks
            self.ContainerSpec = ContainerSpec
        }
    }

    public struct NetworkAttachmentConfig: Decodable, Sendable, Hashable {
        /// Network ID (or name, as the client sent it).
        public var Target: String
        public var Aliases: [String]?
        public init(Target: String, Aliases: [String]? = nil) {
            self.Target = Target
            self.Aliases = Aliases
        }
    }

    public struct EndpointSpec: Decodable, Sendable, Hashable {
        public var Mode: String?
        public var Ports: [PortConfig]?
    }

    public struct PortConfig: Decodable, Sendable, Hashable {
        public var `Protocol`: String?
        public var TargetPort: Int?
        public var PublishedPort: Int?
        public var PublishMode: String?
    }

    public struct ServiceEndpoint: Decodable, Sendable, Hashable {
        public var Ports: [PortConfig]?
        public var VirtualIPs: [VirtualIP]?
    }

    public struct VirtualIP: Decodable, Sendable, Hashable {
        public var NetworkID: String?
        /// CIDR form, e.g. `10.0.0.5/24`.
        public var Addr: String?
    }

    /// A task (`GET /tasks`).
    public struct Task: Decodable, Sendable, Hashable {
        public var ID: String
        public var ServiceID: String
        public var NodeID: String?
        public var Slot: Int?
        public var DesiredState: String
        public var Status: TaskStatus
        public var NetworksAttachments: [NetworkAttachment]?
    }

    public struct TaskStatus: Decodable, Sendable, Hashable {
        public var State: String
        public var PortStatus: PortStatus?
        public var ContainerStatus: ContainerStatus?
    }

    public struct ContainerStatus: Decodable, Sendable, Hashable {
        public var ContainerID: String?
    }

    public struct PortStatus: Decodable, Sendable, Hashable {
        public var Ports: [PortConfig]?
    }

    public struct NetworkAttachment: Decodable, Sendable, Hashable {
        public var Network: AttachedNetwork
        /// CIDR form, e.g. `10.0.1.7/24`.
        public var Addresses: [String]?
    }

    public struct AttachedNetwork: Decodable, Sendable, Hashable {
        public var ID: String
        public var Spec: NetworkSpec?
    }

    public struct NetworkSpec: Decodable, Sendable, Hashable {
        public var Name: String?
    }

    /// A network (`GET /networks`).
    public struct Network: Decodable, Sendable, Hashable {
        public var Id: String
        public var Name: String
        public var Driver: String?
        public var Scope: String?
    }

    /// A node (`GET /nodes`).
    public struct Node: Decodable, Sendable, Hashable {
        public var ID: String
        public var Status: NodeStatus?
        public var Description: NodeDescription?
        public var ManagerStatus: ManagerStatus?
    }

    public struct ManagerStatus: Decodable, Sendable, Hashable {
        /// `host:port` of the manager's Raft listener.
        public var Addr: String?
    }

    public struct NodeStatus: Decodable, Sendable, Hashable {
        public var State: String?
        public var Addr: String?
    }

    public struct NodeDescription: Decodable, Sendable, Hashable {
        public var Hostname: String?
    }

    /// One message of `GET /events`.
    public struct Event: Decodable, Sendable, Hashable {
        public var `Type`: String?
        public var Action: String?
        public var Actor: Actor?
        public var timeNano: Int64?
    }

    public struct Actor: Decodable, Sendable, Hashable {
        public var ID: String?
        public var Attributes: [String: String]?
    }
}
